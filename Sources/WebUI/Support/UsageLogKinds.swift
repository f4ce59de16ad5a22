import Accounts

/// Short titles of the usage-log kinds, as Quay's logs view names them in its chart legend
/// (`logKinds` in its `logs-view.js`), plus the kinds only Slipway writes. The chart above the
/// usage-log table labels its colours with these; `UsageLogSentence` writes the table's lines.
enum UsageLogKinds {
    static let titles: [String: String] = [
        "create_repo": "Create Repository",
        "delete_repo": "Delete repository",
        "set_repo_description": "Change repository description",
        "change_repo_visibility": "Change repository visibility",
        "change_repo_state": "Change repository state",
        "push_repo": "Push to repository",
        "pull_repo": "Pull repository",
        "create_tag": "Create Tag",
        "move_tag": "Move Tag",
        "delete_tag": "Delete Tag",
        "revert_tag": "Restore Tag",
        "change_tag_expiration": "Change tag expiration",
        "manifest_label_add": "Add Manifest Label",
        "manifest_label_delete": "Delete Manifest Label",
        "change_repo_permission": "Change repository permission",
        "delete_repo_permission": "Remove permission from repository",
        "add_repo_accesstoken": "Create access token",
        "delete_repo_accesstoken": "Delete access token",
        "build_dockerfile": "Build image from Dockerfile",
        "cancel_build": "Cancel build",
        "create_repo_trigger": "Create build trigger",
        "setup_repo_trigger": "Setup build trigger",
        "delete_repo_trigger": "Delete build trigger",
        "toggle_repo_trigger": "Enable/disable build trigger",
        "start_build_trigger": "Manual build trigger",
        "add_repo_notification": "Add repository notification",
        "delete_repo_notification": "Delete repository notification",
        "reset_repo_notification": "Re-enable repository notification",
        "create_robot": "Create Robot Account",
        "delete_robot": "Delete Robot Account",
        "regenerate_robot_token": "Regenerate Robot Token",
        "create_robot_federation": "Create robot federation",
        "delete_robot_federation": "Delete robot federation",
        "federated_robot_token_exchange": "Federated robot token exchange",
        "org_create": "Create organization",
        "org_delete": "Delete organization",
        "org_change_settings": "Change organization settings",
        "org_remove_member": "Remove organization member",
        "org_create_team": "Create team",
        "org_delete_team": "Delete team",
        "org_add_team_member": "Add team member",
        "org_enable_team_sync": "Enable team synchronization",
        "org_disable_team_sync": "Disable team synchronization",
        "org_remove_team_member": "Remove team member",
        "org_invite_team_member": "Invite team member",
        "org_team_member_invite_accepted": "Team invite accepted",
        "org_team_member_invite_declined": "Team invite declined",
        "create_prototype_permission": "Create default permission",
        "modify_prototype_permission": "Modify default permission",
        "delete_prototype_permission": "Delete default permission",
        "user_change_settings": "Change account settings",
        "user_delete": "Delete user",
        "user_create": "Create user",
        "user_disable": "Disable user",
        "user_enable": "Enable user",
        "user_change_email": "Change user e-mail",
        "user_change_password": "Change user password",
        "create_message": "Create message",
        "delete_message": "Delete message",
        "create_app_specific_token": "Create external app token",
        "revoke_app_specific_token": "Revoke external app token",
        "create_application": "Create Application",
        "update_application": "Update Application",
        "delete_application": "Delete Application",
        "create_oauth_token": "Create OAuth token",
        "revoke_oauth_token": "Revoke OAuth token",
        "login_success": "Login success",
        "attach_external_login": "Link single sign-on identity",
        "detach_external_login": "Unlink single sign-on identity",
        "login_failure": "Login failure",
        "logout_success": "Logout",
        "export_logs_success": "Export logs",
    ]

    /// The title of `kind`; a kind this table does not know yet reads as words
    /// (`some_new_kind` → "Some new kind") rather than as an identifier.
    static func title(_ kind: String) -> String {
        if let known = titles[kind] { return known }
        let words = kind.split(separator: "_").joined(separator: " ")
        return words.prefix(1).uppercased() + words.dropFirst()
    }
}
