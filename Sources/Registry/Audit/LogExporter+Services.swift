import Audit

extension LogExporter {
    /// The exporter of `slipway serve`: the registry's audit store and log, blob storage,
    /// instance keys and configuration.
    public convenience init(services: RegistryServices, settings: Settings = Settings()) {
        self.init(store: services.auditStore, log: services.auditLog, storage: services.storage, tombstones: services.tombstones,
                  secretBox: services.secretBox, config: services.config, logger: services.logger, settings: settings)
    }
}
