package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestANotificationsBlockParses(t *testing.T) {
	cfg, err := loadConfig(writeConfig(t, `
notifications:
  expiring_lead: 30m
  low_stock: {default: 2}
  retry: {max_attempts: 3, base_delay: 1s, max_delay: 1m}
  subscriptions:
    - name: ops
      url: https://hooks.example.com/ovm
      secret: secret:ops-hook
      signature_header: X-Hub-Signature-256
      timeout: 5s
      events: [account.quarantined, pool.empty]
    - name: topic
      sns: {topic_arn: "arn:aws:sns:us-east-1:123456789012:ovm"}
    - name: bus
      eventbridge: {bus: ovm}
`))
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Notifications
	if *n.ExpiringLead != 30*time.Minute || n.LowStock["default"] != 2 || n.Retry.MaxAttempts != 3 || len(n.Subscriptions) != 3 ||
		n.Subscriptions[0].Events[1] != "pool.empty" || n.Subscriptions[1].SNS.TopicARN == "" || n.Subscriptions[2].EventBridge.Bus != "ovm" {
		t.Fatalf("notifications %+v", n)
	}
	if def, _ := loadConfig(""); def.resolved().Notifications.Retry.MaxAttempts != 8 || len(def.Notifications.Subscriptions) != 0 {
		t.Fatalf("default notifications %+v", def.Notifications)
	}
}

func TestABadNotificationsBlockFailsNamingTheKey(t *testing.T) {
	for body, want := range map[string]string{
		"subscriptions: [{name: ops, url: 'https://x/', secret: plain-text-key}]":                       "notifications.subscriptions[0].secret: must name a vault entry",
		"subscriptions: [{name: ops, url: 'https://x/'}]":                                               "notifications.subscriptions[0].secret",
		"subscriptions: [{name: ops, url: 'ftp://x/', secret: 'secret:a'}]":                             "notifications.subscriptions[0].url",
		"subscriptions: [{name: ops}]":                                                                  "notifications.subscriptions[0]: needs exactly one of url",
		"subscriptions: [{name: ops, url: 'https://x/', secret: 'secret:a', sns: {topic_arn: x}}]":      "notifications.subscriptions[0]: needs exactly one",
		"subscriptions: [{name: Ops!, eventbridge: {}}]":                                                "notifications.subscriptions[0].name",
		"subscriptions: [{name: a, eventbridge: {}}, {name: a, eventbridge: {}}]":                       "notifications.subscriptions[1].name: subscription \"a\" is defined twice",
		"subscriptions: [{name: a, eventbridge: {}, events: [lease.made]}]":                             "notifications.subscriptions[0].events[0]: \"lease.made\" must be one of lease.created",
		"subscriptions: [{name: a, sns: {topic_arn: 'my-topic'}}]":                                      "notifications.subscriptions[0].sns.topic_arn",
		"subscriptions: [{name: a, sns: {topic_arn: 'arn:aws:sns:us-east-1:1:t'}, secret: 'secret:x'}]": "secret, signature_header and timeout are for webhooks",
		"low_stock: {nowhere: 1}":                                                                       "notifications.low_stock.nowhere: pool \"nowhere\" is not defined",
		"retry: {max_attempts: -1}":                                                                     "notifications.retry.max_attempts",
		"subscriptions: [{name: a, eventbridge: {}, colour: red}]":                                      "colour: unknown key",
	} {
		_, err := loadConfig(writeConfig(t, "notifications:\n  "+body+"\n"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}

// docs/notifications.md's configuration examples load, and docs/config.md
// documents every key of the block.
func TestTheNotificationsDocsAreValidAndComplete(t *testing.T) {
	md, err := os.ReadFile("../../docs/notifications.md")
	if err != nil {
		t.Fatal(err)
	}
	examples := 0
	for _, part := range strings.Split(string(md), "```yaml\n")[1:] {
		body, _, _ := strings.Cut(part, "```")
		if !strings.HasPrefix(body, "notifications:") {
			continue
		}
		examples++
		if _, err := loadConfig(writeConfig(t, body)); err != nil {
			t.Errorf("docs/notifications.md example: %v", err)
		}
	}
	if examples == 0 {
		t.Fatal("no notifications: example in docs/notifications.md")
	}
	checkDocumented(t, typeOf[NotificationsConfig](), typeOf[SubscriptionConfig](), typeOf[SNSConfig](), typeOf[EventBridgeConfig]())
}
