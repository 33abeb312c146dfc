package awsconnect

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/connect"
	"github.com/aws/aws-sdk-go-v2/service/connect/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ovmdev/ovm/internal/dtmftest"
	"github.com/ovmdev/ovm/internal/mototest"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// connectGaps stands in for Amazon Connect, which moto 5.2 does not cover:
// it has instances only (and its DescribeInstance answers timestamps the SDK
// cannot decode), no prompts, contact flows or phone numbers. The fake keeps
// those as Connect does for one instance, refuses what Connect
// refuses (a prompt whose S3 object is missing, a flow that is not valid
// flow language or names an unknown prompt, a number of another instance),
// and can "place a call": it walks the flow associated with a number and
// plays its prompts from S3 (moto), so the test hears what AWS would.
type connectGaps struct {
	instance string // its ARN
	s3       *s3.Client
	numbers  map[string]string // number -> id, claimed in the instance
	mu       sync.Mutex
	prompts  map[string]string // ARN -> S3 URI
	names    map[string]string // prompt name -> ARN
	flows    map[string]*types.ContactFlow
	assoc    map[string]string // number id -> flow id
	n        int
	writes   int
}

func newConnectGaps(instance string, s3c *s3.Client, numbers ...string) *connectGaps {
	g := &connectGaps{instance: instance, s3: s3c, numbers: map[string]string{}, prompts: map[string]string{}, names: map[string]string{},
		flows: map[string]*types.ContactFlow{}, assoc: map[string]string{}}
	for i, n := range numbers {
		g.numbers[n] = fmt.Sprintf("pn-%d", i)
	}
	return g
}

func (g *connectGaps) ListPrompts(ctx context.Context, in *connect.ListPromptsInput, _ ...func(*connect.Options)) (*connect.ListPromptsOutput, error) {
	if !strings.HasSuffix(g.instance, "/"+aws.ToString(in.InstanceId)) {
		return nil, &types.ResourceNotFoundException{Message: aws.String("instance not found")}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	out := &connect.ListPromptsOutput{}
	for name, arn := range g.names {
		out.PromptSummaryList = append(out.PromptSummaryList, types.PromptSummary{Name: aws.String(name), Arn: aws.String(arn)})
	}
	return out, nil
}

func (g *connectGaps) CreatePrompt(ctx context.Context, in *connect.CreatePromptInput, _ ...func(*connect.Options)) (*connect.CreatePromptOutput, error) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(aws.ToString(in.S3Uri), "s3://"), "/")
	if _, err := g.s3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
		return nil, &types.InvalidParameterException{Message: aws.String("the prompt's S3 object cannot be read")}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.names[aws.ToString(in.Name)]; ok {
		return nil, &types.DuplicateResourceException{Message: aws.String("prompt exists")}
	}
	g.n++
	arn := fmt.Sprintf("arn:aws:connect:us-east-1:123456789012:instance/%s/prompt/p-%d", aws.ToString(in.InstanceId), g.n)
	g.prompts[arn], g.names[aws.ToString(in.Name)] = aws.ToString(in.S3Uri), arn
	return &connect.CreatePromptOutput{PromptARN: aws.String(arn), PromptId: aws.String(fmt.Sprintf("p-%d", g.n))}, nil
}

// check is Connect's validation of flow content.
func (g *connectGaps) check(content string) error {
	var f flow
	if err := json.Unmarshal([]byte(content), &f); err != nil || f.Version != "2019-10-30" {
		return &types.InvalidContactFlowException{Message: aws.String("not flow language")}
	}
	ids := map[string]bool{}
	for _, a := range f.Actions {
		ids[a.Identifier] = true
	}
	if !ids[f.StartAction] {
		return &types.InvalidContactFlowException{Message: aws.String("no start action")}
	}
	for _, a := range f.Actions {
		if a.Transitions.NextAction != "" && !ids[a.Transitions.NextAction] {
			return &types.InvalidContactFlowException{Message: aws.String("dangling transition")}
		}
		if a.Type == "MessageParticipant" {
			if _, ok := g.prompts[fmt.Sprint(a.Parameters["PromptId"])]; !ok {
				return &types.InvalidContactFlowException{Message: aws.String("unknown prompt")}
			}
		}
	}
	return nil
}

func (g *connectGaps) ListContactFlows(ctx context.Context, in *connect.ListContactFlowsInput, _ ...func(*connect.Options)) (*connect.ListContactFlowsOutput, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := &connect.ListContactFlowsOutput{}
	for _, f := range g.flows {
		out.ContactFlowSummaryList = append(out.ContactFlowSummaryList, types.ContactFlowSummary{Id: f.Id, Name: f.Name, ContactFlowType: f.Type})
	}
	return out, nil
}

func (g *connectGaps) CreateContactFlow(ctx context.Context, in *connect.CreateContactFlowInput, _ ...func(*connect.Options)) (*connect.CreateContactFlowOutput, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if err := g.check(aws.ToString(in.Content)); err != nil {
		return nil, err
	}
	g.n++
	id := fmt.Sprintf("f-%d", g.n)
	g.flows[id] = &types.ContactFlow{Id: aws.String(id), Name: in.Name, Type: in.Type, Content: in.Content}
	g.writes++
	return &connect.CreateContactFlowOutput{ContactFlowId: aws.String(id)}, nil
}

func (g *connectGaps) UpdateContactFlowContent(ctx context.Context, in *connect.UpdateContactFlowContentInput, _ ...func(*connect.Options)) (*connect.UpdateContactFlowContentOutput, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.flows[aws.ToString(in.ContactFlowId)]
	if f == nil {
		return nil, &types.ResourceNotFoundException{Message: aws.String("no flow")}
	}
	if err := g.check(aws.ToString(in.Content)); err != nil {
		return nil, err
	}
	f.Content = in.Content
	g.writes++
	return &connect.UpdateContactFlowContentOutput{}, nil
}

func (g *connectGaps) DescribeContactFlow(ctx context.Context, in *connect.DescribeContactFlowInput, _ ...func(*connect.Options)) (*connect.DescribeContactFlowOutput, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f := g.flows[aws.ToString(in.ContactFlowId)]
	if f == nil {
		return nil, &types.ResourceNotFoundException{Message: aws.String("no flow")}
	}
	c := *f
	return &connect.DescribeContactFlowOutput{ContactFlow: &c}, nil
}

func (g *connectGaps) ListPhoneNumbersV2(ctx context.Context, in *connect.ListPhoneNumbersV2Input, _ ...func(*connect.Options)) (*connect.ListPhoneNumbersV2Output, error) {
	out := &connect.ListPhoneNumbersV2Output{}
	if aws.ToString(in.TargetArn) != g.instance {
		return out, nil // numbers of other instances are not listed
	}
	for n, id := range g.numbers {
		out.ListPhoneNumbersSummaryList = append(out.ListPhoneNumbersSummaryList,
			types.ListPhoneNumbersSummary{PhoneNumber: aws.String(n), PhoneNumberId: aws.String(id), TargetArn: in.TargetArn})
	}
	return out, nil
}

func (g *connectGaps) AssociatePhoneNumberContactFlow(ctx context.Context, in *connect.AssociatePhoneNumberContactFlowInput, _ ...func(*connect.Options)) (*connect.AssociatePhoneNumberContactFlowOutput, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.flows[aws.ToString(in.ContactFlowId)] == nil {
		return nil, &types.ResourceNotFoundException{Message: aws.String("no flow")}
	}
	g.assoc[aws.ToString(in.PhoneNumberId)] = aws.ToString(in.ContactFlowId)
	return &connect.AssociatePhoneNumberContactFlowOutput{}, nil
}

// call places a call to number and returns the DTMF keys the caller hears.
func (g *connectGaps) call(t *testing.T, number string) string {
	t.Helper()
	g.mu.Lock()
	f := g.flows[g.assoc[g.numbers[number]]]
	g.mu.Unlock()
	if f == nil {
		t.Fatalf("%s answers with no flow", number)
	}
	keys, err := dtmftest.Call(aws.ToString(f.Content), func(id string) ([]byte, error) {
		g.mu.Lock()
		uri := g.prompts[id]
		g.mu.Unlock()
		return g.read(uri)
	})
	if err != nil {
		t.Fatalf("call to %s: %v", number, err)
	}
	return keys
}

// read is a prompt's WAV, from S3 (moto).
func (g *connectGaps) read(uri string) ([]byte, error) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
	obj, err := g.s3.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, fmt.Errorf("prompt %s: %w", uri, err)
	}
	defer obj.Body.Close()
	return io.ReadAll(obj.Body)
}

func TestTheVerificationCallKeysInThePINAndOnlyWhileArmed(t *testing.T) {
	srv := mototest.Require(t)
	ctx := mototest.WithContext(t)
	cfg := srv.Config()
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("ovm-connect")}); err != nil {
		t.Fatal(err)
	}
	instance := "arn:aws:connect:us-east-1:123456789012:instance/0a1b2c3d-ovm"
	g := newConnectGaps(instance, s3c, "+15550100", "+15550101")
	a := &Answerer{Connect: g, S3: s3c, InstanceARN: instance, Bucket: "ovm-connect", Numbers: []string{"+15550100", "+15550101"}}
	if err := a.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	objs, _ := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("ovm-connect")})
	if len(objs.Contents) != 12 || len(g.names) != 12 || len(g.flows) != 2 {
		t.Fatalf("after setup: %d prompt files, %d prompts, %d flows", len(objs.Contents), len(g.names), len(g.flows))
	}
	// Idle numbers hang up.
	if got := g.call(t, "+15550100"); got != "" {
		t.Fatalf("an idle number keys in %q", got)
	}
	if err := a.Arm(ctx, "+15550100", "4729"); err != nil {
		t.Fatal(err)
	}
	if got := g.call(t, "+15550100"); got != "4729" {
		t.Fatalf("the call keys in %q, want 4729", got)
	}
	if got := g.call(t, "+15550101"); got != "" {
		t.Fatalf("the other number keys in %q", got)
	}
	if err := a.Validate(ctx, "+15550100", "4729"); err != nil {
		t.Fatal(err)
	}
	if err := a.Arm(ctx, "+15550101", "0088"); err != nil {
		t.Fatal(err)
	}
	if got := g.call(t, "+15550101"); got != "0088" {
		t.Fatalf("repeated digits: %q", got)
	}
	if err := a.Disarm(ctx, "+15550100"); err != nil {
		t.Fatal(err)
	}
	if got := g.call(t, "+15550100"); got != "" {
		t.Fatalf("a disarmed number keys in %q", got)
	}
	// A flow edited by hand is noticed.
	if err := a.Validate(ctx, "+15550100", "4729"); err == nil {
		t.Fatal("Validate accepted a flow that no longer plays the PIN")
	}
	if err := a.Arm(ctx, "+15550100", "12a4"); err == nil {
		t.Fatal("a PIN with a letter was armed")
	}

	// Setup again (a restart): nothing duplicated, every flow reset.
	a2 := &Answerer{Connect: g, S3: s3c, InstanceARN: instance, Bucket: "ovm-connect", Numbers: []string{"+15550100", "+15550101"}}
	if err := a2.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if len(g.names) != 12 || len(g.flows) != 2 {
		t.Fatalf("after a second setup: %d prompts, %d flows", len(g.names), len(g.flows))
	}
	if got := g.call(t, "+15550101"); got != "" {
		t.Fatalf("setup left an armed flow: %q", got)
	}
	// A number the instance has not claimed is named.
	a3 := &Answerer{Connect: g, S3: s3c, InstanceARN: instance, Bucket: "ovm-connect", Numbers: []string{"+15550199"}}
	if err := a3.Setup(ctx); err == nil || !strings.Contains(err.Error(), "+15550199 is not claimed") {
		t.Fatalf("unclaimed number: %v", err)
	}
	// An instance that does not exist, and an ARN that is not one.
	a4 := &Answerer{Connect: g, S3: s3c, InstanceARN: "arn:aws:connect:us-east-1:123456789012:instance/gone", Bucket: "ovm-connect"}
	if err := a4.Setup(ctx); err == nil || !strings.Contains(err.Error(), "list prompts") {
		t.Fatalf("missing instance: %v", err)
	}
	a5 := &Answerer{Connect: g, S3: s3c, InstanceARN: "0a1b2c3d-ovm", Bucket: "ovm-connect"}
	if err := a5.Setup(ctx); err == nil || !strings.Contains(err.Error(), "not a Connect instance ARN") {
		t.Fatalf("bad ARN: %v", err)
	}
}
