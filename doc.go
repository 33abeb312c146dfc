// Package ovm is the domain of the AWS Organizations Vending Machine: the
// accounts it keeps in stock, the leases it hands out, the pools that group
// them, the API keys of its users and the events that record every change.
//
// The package holds types, states, the legal transitions between states, the
// retry policy and the interfaces of the two outside worlds OVM depends on: a
// [Store] that persists records with compare-and-set semantics, and a
// [Provider] that makes, prepares and retires AWS accounts. It imports only the
// standard library; implementations live in their own packages (store/...,
// provider/...), and cmd/ovm wires them together.
//
// # Account lifecycle
//
//	pending -> creating -> bootstrapping -> ready -> leased -> cleaning -> ready   (recycle)
//	                                                       \-> closing  -> closed  (retire)
//	any working state --(attempts exhausted)--> quarantined --(operator)--> retry | retire
//	pending | creating --(definitive failure, no AWS account exists)--> abandoned
//
// Each arrow is an entry of the transition table (see [CanTransition]) and has
// one constructor (StartCreating, FinishCreating, ...) that returns the
// validated compare-and-set parameters a [Store] applies only if the record's
// state and version are still the ones the caller read.
//
// # Leases
//
// A lease is active until it ends; it ends as expired, released, revoked or
// account_failed. Ending a lease moves its account to cleaning (recycle) or
// closing (retire) in the same store transaction.
package ovm
