// Cheap signs that a namespace storage of the base-image cache is damaged, checked before every
// use: a marker left by a build the storage made fail, or a containers-storage index
// (images.json, layers.json, containers.json) that is not a JSON array. Damage the indexes do not
// show (a layer's files gone) makes the build fail before its first step; the build then runs
// again in a fresh storage and leaves the marker.

import Foundation

enum CacheStorageCheck {
    static let brokenMarker = "broken"

    /// Why the storage under `directory` must be dropped, or nil.
    static func damage(in directory: URL, driver: String) -> String? {
        let fm = FileManager.default
        if fm.fileExists(atPath: directory.appendingPathComponent(brokenMarker).path) {
            return "a build failed in it and succeeded without it"
        }
        let storage = directory.appendingPathComponent("storage")
        for index in ["\(driver)-images/images.json", "\(driver)-layers/layers.json", "\(driver)-containers/containers.json"] {
            let path = storage.appendingPathComponent(index).path
            guard fm.fileExists(atPath: path) else { continue }
            guard let data = fm.contents(atPath: path),
                  (try? JSONSerialization.jsonObject(with: data)) is [Any] else {
                return "\(index) is unreadable"
            }
        }
        return nil
    }
}
