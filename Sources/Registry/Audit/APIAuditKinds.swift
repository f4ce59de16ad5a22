/// Which successful `/api/v1` writes become usage-log entries, and under which Quay log kind.
/// `APIRoutes` records them after the handler succeeds, so account resources need no logging
/// code of their own. (Repository, tag and label handlers record richer entries themselves and
/// are not listed here.)
enum APIAuditKinds {
    static let table: [String: String] = [
        "PUT /api/v1/user/robots/{robot_shortname}": "create_robot",
        "DELETE /api/v1/user/robots/{robot_shortname}": "delete_robot",
        "POST /api/v1/user/robots/{robot_shortname}/regenerate": "regenerate_robot_token",
        "PUT /api/v1/user/robots/{robot_shortname}/permissions": "change_repo_permission",
        "PUT /api/v1/organization/{orgname}/robots/{robot_shortname}": "create_robot",
        "DELETE /api/v1/organization/{orgname}/robots/{robot_shortname}": "delete_robot",
        "POST /api/v1/organization/{orgname}/robots/{robot_shortname}/regenerate": "regenerate_robot_token",
        "PUT /api/v1/organization/{orgname}/robots/{robot_shortname}/permissions": "change_repo_permission",
        "POST /api/v1/organization/": "org_create",
        "PUT /api/v1/organization/{orgname}": "org_change_settings",
        "DELETE /api/v1/organization/{orgname}": "org_delete",
        "DELETE /api/v1/organization/{orgname}/members/{membername}": "org_remove_member",
        "PUT /api/v1/organization/{orgname}/team/{teamname}": "org_create_team",
        "DELETE /api/v1/organization/{orgname}/team/{teamname}": "org_delete_team",
        "PUT /api/v1/organization/{orgname}/team/{teamname}/members/{membername}": "org_add_team_member",
        "DELETE /api/v1/organization/{orgname}/team/{teamname}/members/{membername}": "org_remove_team_member",
        "PUT /api/v1/teaminvite/{code}": "org_team_member_invite_accepted",
        "DELETE /api/v1/teaminvite/{code}": "org_team_member_invite_declined",
        "POST /api/v1/organization/{orgname}/prototypes": "create_prototype_permission",
        "PUT /api/v1/organization/{orgname}/prototypes/{prototypeid}": "modify_prototype_permission",
        "DELETE /api/v1/organization/{orgname}/prototypes/{prototypeid}": "delete_prototype_permission",
        "PUT /api/v1/repository/{repository}/permissions/user/{username}": "change_repo_permission",
        "DELETE /api/v1/repository/{repository}/permissions/user/{username}": "delete_repo_permission",
        "PUT /api/v1/repository/{repository}/permissions/team/{teamname}": "change_repo_permission",
        "DELETE /api/v1/repository/{repository}/permissions/team/{teamname}": "delete_repo_permission",
        "POST /api/v1/repository/{repository}/tokens/": "add_repo_accesstoken",
        "DELETE /api/v1/repository/{repository}/tokens/{code_uuid}": "delete_repo_accesstoken",
        "PUT /api/v1/user/": "user_change_settings",
        "DELETE /api/v1/user/": "user_delete",
        "POST /api/v1/user/apptoken": "create_app_specific_token",
        "DELETE /api/v1/user/apptoken/{token_uuid}": "revoke_app_specific_token",
        "POST /api/v1/organization/{orgname}/applications": "create_application",
        "PUT /api/v1/organization/{orgname}/applications/{client_id}": "update_application",
        "DELETE /api/v1/organization/{orgname}/applications/{client_id}": "delete_application",
        "POST /api/v1/organization/{orgname}/applications/{client_id}/tokens": "create_oauth_token",
        "DELETE /api/v1/organization/{orgname}/applications/{client_id}/tokens/{token_uuid}": "revoke_oauth_token",
    ]

    /// Path parameters that are secrets and must never reach a log.
    static let secretParameters: Set<String> = ["code"]
}
