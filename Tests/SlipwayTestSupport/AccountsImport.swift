// TestRegistry.swift (not this change's to edit) names account types (`Namespace`) that moved
// from Registry into the Accounts target. An exported import is visible to every file of this
// module, so it compiles until TestRegistry.swift imports Accounts itself; then this file goes.
@_exported import Accounts
