import Foundation
import Registry

/// Matrix rows for the build trigger API.
extension MatrixRows {
    static var triggers: [MatrixRow] { [] }
}
