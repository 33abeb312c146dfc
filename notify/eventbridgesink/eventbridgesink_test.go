package eventbridgesink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/ovmdev/ovm"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/notify/eventbridgesink"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// A rule on the bus sends OVM's events to an SQS queue: what arrives there
// is what EventBridge matched and delivered.
func TestTheNotificationIsAnEventOnTheBus(t *testing.T) {
	ctx := context.Background()
	moto := mototest.Require(t)
	eb := eventbridge.NewFromConfig(moto.Config())
	if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: aws.String("ovm")}); err != nil {
		t.Fatal(err)
	}
	q := moto.Queue(t, "quarantine")
	pattern := `{"source": ["ovm"], "detail-type": ["account.quarantined"]}`
	if _, err := eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("quarantined"), EventBusName: aws.String("ovm"), EventPattern: aws.String(pattern)}); err != nil {
		t.Fatal(err)
	}
	if _, err := eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("quarantined"), EventBusName: aws.String("ovm"),
		Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String(q.ARN)}}}); err != nil {
		t.Fatal(err)
	}
	sink, _ := eventbridgesink.New(eb, eventbridgesink.Config{Bus: "ovm"})
	at := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	for i, typ := range []ovm.NotificationType{ovm.NotifyLeaseCreated, ovm.NotifyAccountQuarantined} {
		n := &ovm.Notification{ID: fmt.Sprint("evt_", i), Type: typ, Time: at, AccountID: "acc_1", LastError: "INVALID_EMAIL"}
		if err := sink.Send(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	msgs := q.Receive()
	if len(msgs) != 1 {
		t.Fatalf("%d messages, want the quarantine only", len(msgs))
	}
	var ev struct {
		Source     string           `json:"source"`
		DetailType string           `json:"detail-type"`
		Detail     ovm.Notification `json:"detail"`
	}
	if err := json.Unmarshal([]byte(msgs[0]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Source != "ovm" || ev.DetailType != "account.quarantined" || ev.Detail.ID != "evt_1" || ev.Detail.LastError != "INVALID_EMAIL" {
		t.Fatalf("event %+v", ev)
	}
}

func TestAMissingBusIsAnError(t *testing.T) {
	cfg := mototest.Require(t).Config()
	sink, _ := eventbridgesink.New(eventbridge.NewFromConfig(cfg), eventbridgesink.Config{Bus: "nope"})
	if err := sink.Send(context.Background(), &ovm.Notification{ID: "evt_1", Type: ovm.NotifyPoolLow}); err == nil {
		t.Fatal("putting an event on a missing bus succeeded")
	}
}
