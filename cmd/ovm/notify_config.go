package main

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/engine"
	"github.com/ovmdev/ovm/notify/eventbridgesink"
	"github.com/ovmdev/ovm/notify/snssink"
	"github.com/ovmdev/ovm/notify/webhook"
	"github.com/ovmdev/ovm/provider"
)

var subscriptionNameRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// validate checks the notifications: block; pools are the defined pools.
func (n *NotificationsConfig) validate(pools map[string]bool) error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("notifications.%s: %s", key, fmt.Sprintf(format, args...))
	}
	for pool, low := range n.LowStock {
		if !pools[pool] {
			return bad("low_stock."+pool, "pool %q is not defined", pool)
		}
		if low < 0 {
			return bad("low_stock."+pool, "must not be negative")
		}
	}
	if n.Retry.MaxAttempts < 0 {
		return bad("retry.max_attempts", "must be at least 1 (leave it out for 8)")
	}
	if n.Retry.BaseDelay < 0 || n.Retry.MaxDelay < 0 || n.Retry.MaxDelay != 0 && n.Retry.MaxDelay < n.Retry.BaseDelay {
		return bad("retry.base_delay", "must be positive and at most retry.max_delay")
	}
	names := map[string]bool{}
	for i, s := range n.Subscriptions {
		key := fmt.Sprintf("subscriptions[%d]", i)
		if !subscriptionNameRe.MatchString(s.Name) {
			return bad(key+".name", "%q must be 1-63 of a-z 0-9 _ - (it labels metrics)", s.Name)
		}
		if names[s.Name] {
			return bad(key+".name", "subscription %q is defined twice", s.Name)
		}
		names[s.Name] = true
		for j, e := range s.Events {
			if !ovm.NotificationType(e).Valid() {
				return bad(fmt.Sprintf("%s.events[%d]", key, j), "%q must be one of %s", e, notificationTypeNames())
			}
		}
		sinks := 0
		for _, set := range []bool{s.URL != "", s.SNS != nil, s.EventBridge != nil} {
			if set {
				sinks++
			}
		}
		if sinks != 1 {
			return bad(key, "needs exactly one of url (a webhook), sns or eventbridge")
		}
		switch {
		case s.URL != "":
			u, err := url.Parse(s.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return bad(key+".url", "must be an absolute http or https url")
			}
			if !strings.HasPrefix(s.Secret, "secret:") || len(s.Secret) == len("secret:") {
				return bad(key+".secret", "must name a vault entry as secret:NAME (ovm secret put NAME); the key is never written in the file")
			}
		case s.Secret != "" || s.SignatureHeader != "" || s.Timeout != 0:
			return bad(key, "secret, signature_header and timeout are for webhooks (url)")
		case s.SNS != nil && (!strings.HasPrefix(s.SNS.TopicARN, "arn:") || !strings.Contains(s.SNS.TopicARN, ":sns:")):
			return bad(key+".sns.topic_arn", "must be an SNS topic ARN")
		}
	}
	return nil
}

func notificationTypeNames() string {
	var out []string
	for _, t := range ovm.NotificationTypes {
		out = append(out, string(t))
	}
	return strings.Join(out, ", ")
}

// notifyConfig is the notifier's configuration of the notifications:
// block, each subscription's sink built: webhook secrets read from the
// vault, AWS clients from the aws: block.
func notifyConfig(ctx context.Context, cfg *Config, env provider.Env) (engine.NotifyConfig, error) {
	n := cfg.Notifications
	out := engine.NotifyConfig{LowStock: n.LowStock,
		Retry: ovm.RetryPolicy{MaxAttempts: n.Retry.MaxAttempts, BaseDelay: n.Retry.BaseDelay, MaxDelay: n.Retry.MaxDelay}}
	if n.ExpiringLead != nil {
		out.ExpiringLead = *n.ExpiringLead
		if out.ExpiringLead == 0 {
			out.ExpiringLead = -1 // never
		}
	}
	for i, sc := range n.Subscriptions {
		key := fmt.Sprintf("notifications.subscriptions[%d]", i)
		sub := &ovm.Subscription{Name: sc.Name}
		for _, e := range sc.Events {
			sub.Types = append(sub.Types, ovm.NotificationType(e))
		}
		var err error
		switch {
		case sc.URL != "":
			var secret string
			if secret, err = vaultSecret(ctx, env, key+".secret", sc.Secret); err != nil {
				return out, err
			}
			sub.Sink, err = webhook.New(webhook.Config{URL: sc.URL, Secret: []byte(secret), SignatureHeader: sc.SignatureHeader, Timeout: sc.Timeout})
		case sc.SNS != nil:
			var ac aws.Config
			if ac, err = env.AWS(ctx); err == nil {
				sub.Sink, err = snssink.New(sns.NewFromConfig(ac), snssink.Config{TopicARN: sc.SNS.TopicARN})
			}
		case sc.EventBridge != nil:
			var ac aws.Config
			if ac, err = env.AWS(ctx); err == nil {
				sub.Sink, err = eventbridgesink.New(eventbridge.NewFromConfig(ac), eventbridgesink.Config{Bus: sc.EventBridge.Bus, Source: sc.EventBridge.Source})
			}
		}
		if err != nil {
			return out, fmt.Errorf("%s: %w", key, err)
		}
		out.Subscriptions = append(out.Subscriptions, sub)
	}
	return out, nil
}
