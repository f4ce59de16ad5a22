import Registry

/// The repository Logs tab (admin, as `GET .../logs` is).
struct LogsTab {
    let server: PageServer

    struct Model {
        let header: RepositoryHeader
        let logs: UsageLogsView
    }

    func page(_ r: PageRequest, access: RepositoryAccess, header: RepositoryHeader) async throws -> Page {
        let repo = access.repository
        let logs = try await UsageLogsView.make(
            scope: .repository(repo.id), request: r, pageURL: RepositoryURL.page(repo.path, tab: "logs"), hidden: ["tab": "logs"],
            apiBase: "/api/v1/repository/" + PageServer.pathEscape(repo.path.description), services: server.services)
        return Page(title: "\(repo.path) · logs", template: "tab_logs", model: Model(header: header, logs: logs), scripts: ["logs.js"], nav: .repositories)
    }
}
