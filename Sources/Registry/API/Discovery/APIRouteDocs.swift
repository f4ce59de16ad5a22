/// Documentation of the `/api/v1` routes, keyed `"METHOD /path/template"` as registered. Kept
/// beside the route table rather than in every `api.add` so a registration stays one line; the
/// discovery test fails on a key that names no registered route, so this table cannot drift
/// from the routes it describes (and a route missing here is still listed, generically).
enum APIRouteDocs {
    typealias Q = APIRouteDoc.Query

    static let table: [String: APIRouteDoc] = [
        // Repositories
        "GET /api/v1/repository": APIRouteDoc("List repositories visible to the caller", query: [
            Q("namespace", "string", "only this namespace"), Q("public", "boolean", "include public repositories"),
            Q("starred", "boolean", "only starred repositories"), Q("next_page", "string", "page token from the previous page"),
        ], response: "RepositoryList"),
        "POST /api/v1/repository": APIRouteDoc("Create a repository", request: "NewRepository", response: "CreatedRepository"),
        "GET /api/v1/repository/{repository}": APIRouteDoc("Get a repository", query: [
            Q("includeTags", "boolean", "include the active tags (default true)"),
        ], response: "Repository"),
        "PUT /api/v1/repository/{repository}": APIRouteDoc("Update a repository's description", request: "RepositoryUpdate"),
        "DELETE /api/v1/repository/{repository}": APIRouteDoc("Delete a repository (204 also when it does not exist, for a namespace admin)"),
        "POST /api/v1/repository/{repository}/changevisibility": APIRouteDoc("Make a repository public or private", request: "VisibilityChange"),
        "PUT /api/v1/repository/{repository}/changestate": APIRouteDoc("Set a repository's state", request: "StateChange"),

        // Tags
        "GET /api/v1/repository/{repository}/tag/": APIRouteDoc("List a repository's tags (with history unless onlyActiveTags)", query: [
            Q("specificTag", "string", "only this tag"), Q("filter_tag_name", "string", "like:<prefix> or eq:<name>"),
            Q("onlyActiveTags", "boolean", "only live tags"), Q("page", "integer", "page number, from 1"),
            Q("limit", "integer", "tags per page (1-100)"),
        ], response: "TagList"),
        "PUT /api/v1/repository/{repository}/tag/{tag}": APIRouteDoc("Point a tag at a manifest or set its expiration", request: "TagUpdate"),
        "DELETE /api/v1/repository/{repository}/tag/{tag}": APIRouteDoc("Delete a tag"),
        "POST /api/v1/repository/{repository}/tag/{tag}/restore": APIRouteDoc("Restore a tag to an earlier manifest", request: "TagRestore"),

        // Manifests
        "GET /api/v1/repository/{repository}/manifest/{manifestref}": APIRouteDoc("Get a manifest by digest"),
        "GET /api/v1/repository/{repository}/manifest/{manifestref}/labels": APIRouteDoc("List a manifest's labels", query: [
            Q("filter", "string", "only labels whose key starts with this"),
        ]),

        // Users and sign-in
        "GET /api/v1/user/": APIRouteDoc("The signed-in user", response: "User"),
        "POST /api/v1/signin": APIRouteDoc("Sign in with a password (sets the session cookie)", request: "SignIn"),
        "POST /api/v1/user/": APIRouteDoc("Create an account (self sign-up, when auth.userCreation is on; signs it in)", request: "CreateAccount"),
        "POST /api/v1/signout": APIRouteDoc("Sign out (clears the session cookie)"),

        // Usage logs
        "GET /api/v1/repository/{repository}/logs": APIRouteDoc("A repository's usage logs", query: Self.logQuery),
        "GET /api/v1/repository/{repository}/aggregatelogs": APIRouteDoc("A repository's usage logs counted per kind and day", query: Self.logQuery),
        "GET /api/v1/user/logs": APIRouteDoc("The caller's usage logs", query: Self.logQuery),
        "GET /api/v1/user/aggregatelogs": APIRouteDoc("The caller's usage logs counted per kind and day", query: Self.logQuery),
        "GET /api/v1/organization/{orgname}/logs": APIRouteDoc("An organization's usage logs", query: Self.logQuery),
        "GET /api/v1/organization/{orgname}/aggregatelogs": APIRouteDoc("An organization's usage logs counted per kind and day", query: Self.logQuery),

        // Builds (BuildOrchestrator registers these)
        "POST /api/v1/repository/{repository}/build/": APIRouteDoc("Start a build of an uploaded context or an archive URL",
                                                                   request: "RepositoryBuildRequest"),
        "GET /api/v1/repository/{repository}/build/": APIRouteDoc("List a repository's builds", query: [
            Q("limit", "integer", "at most this many builds"), Q("since", "integer", "only builds started after this Unix time"),
        ]),
        "GET /api/v1/repository/{repository}/build/{build_uuid}/logs": APIRouteDoc("A build's log entries", query: [
            Q("start", "integer", "first entry to return"),
        ]),

        // Teams
        "GET /api/v1/organization/{orgname}/team/{teamname}/members": APIRouteDoc("A team's members", query: [
            Q("includePending", "boolean", "include pending invitations"),
        ]),
        "POST /api/v1/organization/{orgname}/team/{teamname}/syncing":
            APIRouteDoc("Sync a team's members with a group claim of the sign-in provider: {\"group_name\": ...}"),
        "DELETE /api/v1/organization/{orgname}/team/{teamname}/syncing": APIRouteDoc("Stop syncing a team (its members stay)"),
        "POST /api/v1/detachexternal/{service_id}": APIRouteDoc("Unlink the caller's sign-in through the provider named service_id"),

        // Discovery
        "GET /api/v1/discovery": APIRouteDoc("This API described as a Swagger 2.0 document (Quay's discovery)"),
        "GET /api/v1/openapi.json": APIRouteDoc("This API described as an OpenAPI 3.0 document"),
    ]

    static let logQuery: [Q] = [
        Q("starttime", "string", "first day, %m/%d/%Y (UTC)"), Q("endtime", "string", "last day, %m/%d/%Y (UTC)"),
        Q("performer", "string", "only entries by this user"), Q("next_page", "string", "page token from the previous page"),
    ]
}
