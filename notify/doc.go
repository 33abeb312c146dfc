// Package notify holds OVM's notification sinks, one package per
// dependency: webhook (net/http, signed with HMAC-SHA256), snssink (an
// Amazon SNS topic) and eventbridgesink (an Amazon EventBridge bus). Each
// implements ovm.Sink; the engine's notifier sends the outbox's entries
// through them.
package notify
