import Foundation
import Registry

/// Matrix rows for the repository notification API and in-app notifications.
extension MatrixRows {
    static var notifications: [MatrixRow] { [] }
}
