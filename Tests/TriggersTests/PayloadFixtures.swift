import Accounts

/// Webhook bodies in the shapes GitHub, GitLab and Bitbucket send (trimmed to the fields a
/// receiver can rely on, plus some noise), and the guide's custom-git body.
enum PayloadFixtures {
    static let sha = "1c002dd7d0c6a3b1f6b8a1e0e7b2c1d9e5f4a3b2"

    static let custom = """
        {"commit": "\(sha)", "ref": "refs/heads/master", "default_branch": "master",
         "commit_info": {"url": "https://git.example.com/acme/app/commit/\(sha)", "message": "initial commit",
           "date": "2026-11-29T08:05:13+00:00",
           "author": {"username": "dev", "avatar_url": "https://git.example.com/avatars/dev.png", "url": "https://git.example.com/dev"},
           "committer": {"username": "bot", "avatar_url": "https://git.example.com/avatars/bot.png", "url": "https://git.example.com/bot"}}}
        """

    static let githubPush = """
        {"ref": "refs/heads/main", "before": "9049f1265b7d61be4a8904a9a27120d2064dab3b", "after": "\(sha)",
         "created": false, "deleted": false, "forced": false, "base_ref": null,
         "compare": "https://github.com/acme/app/compare/9049f1265b7d...1c002dd7d0c6",
         "commits": [{"id": "\(sha)", "tree_id": "f9d2a07e9488b91af2641b26b9407fe22a451433", "distinct": true,
                      "message": "Update Dockerfile", "timestamp": "2026-11-29T09:00:00+01:00",
                      "url": "https://github.com/acme/app/commit/\(sha)",
                      "author": {"name": "Dev Eloper", "email": "dev@example.com", "username": "devel"},
                      "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
                      "added": [], "removed": [], "modified": ["Dockerfile"]}],
         "head_commit": {"id": "\(sha)", "tree_id": "f9d2a07e9488b91af2641b26b9407fe22a451433", "distinct": true,
                         "message": "Update Dockerfile", "timestamp": "2026-11-29T09:00:00+01:00",
                         "url": "https://github.com/acme/app/commit/\(sha)",
                         "author": {"name": "Dev Eloper", "email": "dev@example.com", "username": "devel"},
                         "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
                         "added": [], "removed": [], "modified": ["Dockerfile"]},
         "repository": {"id": 35129377, "name": "app", "full_name": "acme/app", "private": false,
                        "owner": {"name": "acme", "email": null, "login": "acme"},
                        "html_url": "https://github.com/acme/app", "ssh_url": "git@github.com:acme/app.git",
                        "clone_url": "https://github.com/acme/app.git", "default_branch": "main", "master_branch": "main"},
         "pusher": {"name": "devel", "email": "dev@example.com"},
         "sender": {"login": "devel", "id": 6752317, "avatar_url": "https://avatars.githubusercontent.com/u/6752317?v=3",
                    "html_url": "https://github.com/devel", "type": "User", "site_admin": false}}
        """

    static let githubTag = """
        {"ref": "refs/tags/v1.4.0", "before": "0000000000000000000000000000000000000000", "after": "\(sha)",
         "created": true, "deleted": false, "forced": false, "base_ref": "refs/heads/main", "commits": [],
         "head_commit": {"id": "\(sha)", "message": "Release 1.4.0", "timestamp": "2026-11-29T10:00:00Z",
                         "url": "https://github.com/acme/app/commit/\(sha)",
                         "author": {"name": "Dev Eloper", "email": "dev@example.com", "username": "devel"},
                         "committer": {"name": "Dev Eloper", "email": "dev@example.com", "username": "devel"}},
         "repository": {"name": "app", "full_name": "acme/app", "owner": {"name": "acme", "login": "acme"},
                        "ssh_url": "git@github.com:acme/app.git", "default_branch": "main"},
         "sender": {"login": "devel", "avatar_url": "https://avatars.githubusercontent.com/u/6752317?v=3", "html_url": "https://github.com/devel"}}
        """

    static let githubDelete = """
        {"ref": "refs/heads/old-feature", "before": "\(sha)", "after": "0000000000000000000000000000000000000000",
         "created": false, "deleted": true, "forced": false, "base_ref": null, "commits": [], "head_commit": null,
         "repository": {"name": "app", "full_name": "acme/app", "owner": {"name": "acme", "login": "acme"},
                        "ssh_url": "git@github.com:acme/app.git", "default_branch": "main"},
         "sender": {"login": "devel"}}
        """

    static let githubPing = """
        {"zen": "Keep it logically awesome.", "hook_id": 123456,
         "hook": {"type": "Repository", "id": 123456, "name": "web", "active": true, "events": ["push"],
                  "config": {"content_type": "json", "insecure_ssl": "0", "url": "https://registry.example.com/webhooks/push/trigger/x"}},
         "repository": {"name": "app", "full_name": "acme/app"}, "sender": {"login": "devel"}}
        """

    static let gitlabPush = """
        {"object_kind": "push", "event_name": "push", "before": "95790bf891e76fee5e1747ab589903a6a1f80f22", "after": "\(sha)",
         "ref": "refs/heads/develop", "checkout_sha": "\(sha)", "user_id": 4, "user_name": "John Smith", "user_username": "jsmith",
         "user_email": "john@example.com", "user_avatar": "https://gitlab.example.com/uploads/-/system/user/avatar/4/avatar.jpg",
         "project_id": 15,
         "project": {"id": 15, "name": "app", "web_url": "https://gitlab.example.com/acme/app", "git_ssh_url": "git@gitlab.example.com:acme/app.git",
                     "git_http_url": "https://gitlab.example.com/acme/app.git", "namespace": "acme", "path_with_namespace": "acme/app",
                     "default_branch": "main"},
         "commits": [
           {"id": "95790bf891e76fee5e1747ab589903a6a1f80f22", "message": "older", "timestamp": "2026-11-28T11:00:00+00:00",
            "url": "https://gitlab.example.com/acme/app/-/commit/95790bf891e76fee5e1747ab589903a6a1f80f22",
            "author": {"name": "Jordi Mallach", "email": "jordi@example.com"}},
           {"id": "\(sha)", "message": "fixed readme", "title": "fixed readme", "timestamp": "2026-11-29T12:00:00+00:00",
            "url": "https://gitlab.example.com/acme/app/-/commit/\(sha)",
            "author": {"name": "John Smith", "email": "john@example.com"}, "added": [], "modified": ["README.md"], "removed": []}],
         "total_commits_count": 2,
         "repository": {"name": "app", "url": "git@gitlab.example.com:acme/app.git", "homepage": "https://gitlab.example.com/acme/app",
                        "git_ssh_url": "git@gitlab.example.com:acme/app.git", "git_http_url": "https://gitlab.example.com/acme/app.git"}}
        """

    static let gitlabTag = """
        {"object_kind": "tag_push", "event_name": "tag_push", "before": "0000000000000000000000000000000000000000", "after": "\(sha)",
         "ref": "refs/tags/v2.0", "checkout_sha": "\(sha)", "user_username": "jsmith", "user_email": "john@example.com",
         "project_id": 15, "project": {"id": 15, "web_url": "https://gitlab.example.com/acme/app", "default_branch": "main"},
         "commits": [], "total_commits_count": 0,
         "repository": {"name": "app", "git_ssh_url": "git@gitlab.example.com:acme/app.git"}}
        """

    static let gitlabDelete = """
        {"object_kind": "push", "event_name": "push", "before": "\(sha)", "after": "0000000000000000000000000000000000000000",
         "ref": "refs/heads/gone", "checkout_sha": null, "project": {"default_branch": "main"}, "commits": [], "total_commits_count": 0,
         "repository": {"git_ssh_url": "git@gitlab.example.com:acme/app.git"}}
        """

    static let gitlabMergeRequest = """
        {"object_kind": "merge_request", "event_type": "merge_request", "project": {"default_branch": "main"},
         "object_attributes": {"iid": 1, "source_branch": "x", "target_branch": "main"}}
        """

    static func bitbucket(new: String) -> String {
        """
        {"push": {"changes": [{"forced": false, "old": null, "created": true, "closed": false, "new": \(new)}]},
         "repository": {"type": "repository", "full_name": "acme/app", "name": "app", "uuid": "{0f4c8e7a}",
                        "links": {"html": {"href": "https://bitbucket.org/acme/app"}}, "mainbranch": {"name": "main", "type": "branch"}},
         "actor": {"type": "user", "display_name": "John Smith", "nickname": "jsmith", "account_id": "557058:abc",
                   "links": {"avatar": {"href": "https://avatar-management.example.com/jsmith.png"}, "html": {"href": "https://bitbucket.org/jsmith/"}}}}
        """
    }

    static let bitbucketTarget = """
        {"type": "commit", "hash": "\(sha)", "message": "Dockerfile edited online with Bitbucket\\n", "date": "2026-11-29T13:00:00+00:00",
         "author": {"type": "author", "raw": "John Smith <j@smith.example.com>",
                    "user": {"display_name": "John Smith", "nickname": "jsmith", "account_id": "557058:abc",
                             "links": {"avatar": {"href": "https://avatar-management.example.com/jsmith.png"}, "html": {"href": "https://bitbucket.org/jsmith/"}}}},
         "links": {"html": {"href": "https://bitbucket.org/acme/app/commits/\(sha)"}}, "parents": []}
        """

    static let bitbucketPush = bitbucket(new: """
        {"type": "branch", "name": "feature/login", "target": \(bitbucketTarget), "links": {"html": {"href": "https://bitbucket.org/acme/app/branch/feature/login"}}}
        """)
    static let bitbucketTag = bitbucket(new: """
        {"type": "tag", "name": "v3.1", "target": \(bitbucketTarget)}
        """)
    static let bitbucketDelete = bitbucket(new: "null")
}
