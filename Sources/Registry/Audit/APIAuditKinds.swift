import Audit

/// Which successful `/api/v1` writes become usage-log entries, and under which Quay log kind.
/// `APIRoutes` records them after the handler succeeds, so account resources need no logging
/// code of their own. (Repository, tag and label handlers record richer entries themselves and
/// are not listed here.)
enum APIAuditKinds {
    static let table: [String: AuditKind] = [
        "PUT /api/v1/user/robots/{robot_shortname}": .createRobot,
        "DELETE /api/v1/user/robots/{robot_shortname}": .deleteRobot,
        "POST /api/v1/user/robots/{robot_shortname}/regenerate": .regenerateRobotToken,
        "PUT /api/v1/user/robots/{robot_shortname}/permissions": .changeRepoPermission,
        "POST /api/v1/user/robots/{robot_shortname}/federation": .createRobotFederation,
        "DELETE /api/v1/user/robots/{robot_shortname}/federation": .deleteRobotFederation,
        "POST /api/v1/organization/{orgname}/robots/{robot_shortname}/federation": .createRobotFederation,
        "DELETE /api/v1/organization/{orgname}/robots/{robot_shortname}/federation": .deleteRobotFederation,
        "PUT /api/v1/organization/{orgname}/robots/{robot_shortname}": .createRobot,
        "DELETE /api/v1/organization/{orgname}/robots/{robot_shortname}": .deleteRobot,
        "POST /api/v1/organization/{orgname}/robots/{robot_shortname}/regenerate": .regenerateRobotToken,
        "PUT /api/v1/organization/{orgname}/robots/{robot_shortname}/permissions": .changeRepoPermission,
        "POST /api/v1/organization/": .orgCreate,
        "PUT /api/v1/organization/{orgname}": .orgChangeSettings,
        "DELETE /api/v1/organization/{orgname}": .orgDelete,
        "DELETE /api/v1/organization/{orgname}/members/{membername}": .orgRemoveMember,
        "PUT /api/v1/organization/{orgname}/team/{teamname}": .orgCreateTeam,
        "DELETE /api/v1/organization/{orgname}/team/{teamname}": .orgDeleteTeam,
        "PUT /api/v1/organization/{orgname}/team/{teamname}/members/{membername}": .orgAddTeamMember,
        "DELETE /api/v1/organization/{orgname}/team/{teamname}/members/{membername}": .orgRemoveTeamMember,
        "PUT /api/v1/teaminvite/{code}": .orgTeamMemberInviteAccepted,
        "DELETE /api/v1/teaminvite/{code}": .orgTeamMemberInviteDeclined,
        "POST /api/v1/organization/{orgname}/prototypes": .createPrototypePermission,
        "PUT /api/v1/organization/{orgname}/prototypes/{prototypeid}": .modifyPrototypePermission,
        "DELETE /api/v1/organization/{orgname}/prototypes/{prototypeid}": .deletePrototypePermission,
        "PUT /api/v1/repository/{repository}/permissions/user/{username}": .changeRepoPermission,
        "DELETE /api/v1/repository/{repository}/permissions/user/{username}": .deleteRepoPermission,
        "PUT /api/v1/repository/{repository}/permissions/team/{teamname}": .changeRepoPermission,
        "DELETE /api/v1/repository/{repository}/permissions/team/{teamname}": .deleteRepoPermission,
        "POST /api/v1/repository/{repository}/tokens/": .addRepoAccesstoken,
        "DELETE /api/v1/repository/{repository}/tokens/{code_uuid}": .deleteRepoAccesstoken,
        "PUT /api/v1/user/": .userChangeSettings,
        "DELETE /api/v1/user/": .userDelete,
        "POST /api/v1/user/apptoken": .createAppSpecificToken,
        "DELETE /api/v1/user/apptoken/{token_uuid}": .revokeAppSpecificToken,
        "POST /api/v1/organization/{orgname}/applications": .createApplication,
        "PUT /api/v1/organization/{orgname}/applications/{client_id}": .updateApplication,
        "DELETE /api/v1/organization/{orgname}/applications/{client_id}": .deleteApplication,
        "POST /api/v1/organization/{orgname}/applications/{client_id}/tokens": .createOauthToken,
        "DELETE /api/v1/organization/{orgname}/applications/{client_id}/tokens/{token_uuid}": .revokeOauthToken,
    ]

    /// Path parameters that are secrets and must never reach a log.
    static let secretParameters: Set<String> = ["code"]
}
