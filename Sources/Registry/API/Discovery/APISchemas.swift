/// JSON Schemas of the main `/api/v1` bodies, for the discovery documents. `ref` turns a schema
/// name into a reference (`#/definitions/X` in Swagger 2, `#/components/schemas/X` in OpenAPI 3).
/// Properties list what handlers always send as required; optional ones are left out when absent
/// (never `null`), and extra properties are allowed so adding a field never breaks a client.
enum APISchemas {
    static func all(ref: (String) -> String) -> [String: Any] {
        func object(_ properties: [String: Any], required: [String]) -> [String: Any] {
            ["type": "object", "properties": properties, "required": required.sorted()]
        }
        let string: [String: Any] = ["type": "string"]
        let integer: [String: Any] = ["type": "integer"]
        let boolean: [String: Any] = ["type": "boolean"]
        func array(_ item: String) -> [String: Any] { ["type": "array", "items": ["$ref": ref(item)]] as [String: Any] }

        return [
            "ApiError": object([
                "error_message": string, "error_type": string, "status": integer, "detail": string, "title": string, "type": string,
            ], required: ["error_message", "error_type", "status", "detail"]),
            "TagSummary": object([
                "name": string, "size": integer, "last_modified": string, "expiration": string, "manifest_digest": string,
                "pull_commands": ["type": "object"],
            ], required: ["name", "size", "last_modified", "manifest_digest"]),
            "Repository": object([
                "namespace": string, "name": string, "kind": string, "description": string, "is_public": boolean,
                "is_organization": boolean, "is_starred": boolean, "tag_expiration_s": integer, "state": string,
                "tags": ["type": "object", "additionalProperties": ["$ref": ref("TagSummary")]] as [String: Any],
                "can_write": boolean, "can_admin": boolean,
            ], required: ["namespace", "name", "kind", "description", "is_public", "is_organization", "is_starred", "state",
                          "can_write", "can_admin"]),
            // Quay's fields, and Slipway's build_args, build_secrets, cache_repository and platforms.
            "RepositoryBuildRequest": object([
                "file_id": string, "archive_url": string, "docker_tags": ["type": "array", "items": string] as [String: Any],
                "pull_robot": string, "dockerfile_path": string, "context": string, "subdirectory": string,
                "build_args": ["type": "object", "additionalProperties": string,
                               "description": "--build-arg NAME=value pairs (plain, shown in the build view)"] as [String: Any],
                "build_secrets": ["type": "object", "additionalProperties": string,
                                  "description": "secrets for RUN --mount=type=secret,id=ID; sealed at rest, never shown"] as [String: Any],
                "cache_repository": ["type": "string",
                                     "description": "a repository of the namespace that keeps intermediate layers between builds"] as [String: Any],
                "platforms": ["type": "array", "maxItems": 8, "uniqueItems": true,
                              "items": ["type": "string", "enum": ["linux/amd64", "linux/arm64", "linux/arm/v7", "linux/arm/v6", "linux/386",
                                                                   "linux/ppc64le", "linux/s390x", "linux/riscv64"]] as [String: Any],
                              "description": "build each platform and push one OCI image index; absent: the worker's own platform"] as [String: Any],
            ], required: []),
            "RepositoryListEntry": object([
                "namespace": string, "name": string, "description": string, "is_public": boolean, "kind": string,
                "state": string, "last_modified": integer, "is_starred": boolean,
            ], required: ["namespace", "name", "description", "is_public", "kind", "state", "is_starred"]),
            "RepositoryList": object(["repositories": array("RepositoryListEntry"), "next_page": string], required: ["repositories"]),
            "CreatedRepository": object(["namespace": string, "name": string, "kind": string], required: ["namespace", "name"]),
            "NewRepository": object([
                "repository": string, "visibility": ["type": "string", "enum": ["public", "private"]] as [String: Any], "description": string,
                "namespace": string, "repo_kind": string,
            ], required: ["repository", "visibility"]),
            "RepositoryUpdate": object(["description": string], required: ["description"]),
            "VisibilityChange": object(["visibility": ["type": "string", "enum": ["public", "private"]] as [String: Any]], required: ["visibility"]),
            "StateChange": object(["state": string], required: ["state"]),
            "Tag": object([
                "name": string, "reversion": boolean, "manifest_digest": string, "is_manifest_list": boolean, "size": integer,
                "start_ts": integer, "end_ts": integer, "last_modified": string, "expiration": string,
            ], required: ["name", "manifest_digest", "start_ts", "last_modified"]),
            "TagList": object(["tags": array("Tag"), "page": integer, "has_additional": boolean], required: ["tags", "page", "has_additional"]),
            "TagUpdate": object(["manifest_digest": string, "expiration": integer], required: []),
            "TagRestore": object(["manifest_digest": string], required: ["manifest_digest"]),
            "User": object([
                "anonymous": boolean, "username": string, "email": string, "verified": boolean,
                "organizations": ["type": "array", "items": ["type": "object"]] as [String: Any], "super_user": boolean,
                "tag_expiration_s": integer, "can_create_repo": boolean,
            ], required: ["anonymous", "username"]),
            "SignIn": object(["username": string, "password": string], required: ["username", "password"]),
            "CreateAccount": object(["username": string, "password": string, "email": string], required: ["username", "password"]),
        ]
    }
}
