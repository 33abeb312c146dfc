// Package awsconnect answers AWS's verification call with Amazon Connect:
// OVM generates the DTMF prompts (8 kHz mu-law WAVs, one per key), uploads
// them and registers them as Connect prompts, gives every verification
// number its own contact flow, and, for one verification at a time per
// number, writes the PIN into that number's flow: answer, wait for AWS's
// robot to ask, play one tone prompt per digit, hang up. After the
// verification the flow is reset to hang up at once.
//
// The PIN reaches the call through Connect's own store (the flow), so no
// Lambda and no network path from AWS to OVM is needed; the
// GET /v1/phone/{number}/pin endpoint stays for operators who prefer a
// Lambda-based flow of their own.
package awsconnect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/connect"
	"github.com/aws/aws-sdk-go-v2/service/connect/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ovmdev/ovm/provider/signup"
)

// API is the part of Amazon Connect the answerer uses.
type API interface {
	ListPrompts(context.Context, *connect.ListPromptsInput, ...func(*connect.Options)) (*connect.ListPromptsOutput, error)
	CreatePrompt(context.Context, *connect.CreatePromptInput, ...func(*connect.Options)) (*connect.CreatePromptOutput, error)
	ListContactFlows(context.Context, *connect.ListContactFlowsInput, ...func(*connect.Options)) (*connect.ListContactFlowsOutput, error)
	CreateContactFlow(context.Context, *connect.CreateContactFlowInput, ...func(*connect.Options)) (*connect.CreateContactFlowOutput, error)
	UpdateContactFlowContent(context.Context, *connect.UpdateContactFlowContentInput, ...func(*connect.Options)) (*connect.UpdateContactFlowContentOutput, error)
	DescribeContactFlow(context.Context, *connect.DescribeContactFlowInput, ...func(*connect.Options)) (*connect.DescribeContactFlowOutput, error)
	ListPhoneNumbersV2(context.Context, *connect.ListPhoneNumbersV2Input, ...func(*connect.Options)) (*connect.ListPhoneNumbersV2Output, error)
	AssociatePhoneNumberContactFlow(context.Context, *connect.AssociatePhoneNumberContactFlowInput, ...func(*connect.Options)) (*connect.AssociatePhoneNumberContactFlowOutput, error)
}

// S3API uploads the prompts.
type S3API interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// Answerer implements signup.PhoneAnswerer on Amazon Connect.
type Answerer struct {
	Connect API
	S3      S3API
	// InstanceARN is the Connect instance
	// (arn:aws:connect:REGION:ACCOUNT:instance/ID).
	InstanceARN string
	Bucket      string   // where the prompt WAVs are uploaded (Connect reads them from there)
	Prefix      string   // default ovm-prompts/
	Numbers     []string // E.164 numbers claimed in the instance
	// AnswerDelay is the silence before the first tone, while AWS's robot
	// asks for the PIN (default 3s).
	AnswerDelay time.Duration
	Log         *slog.Logger

	mu      sync.Mutex
	prompts map[string]string // key ("0".."9", "silence", "pause") -> prompt ARN
	flows   map[string]string // number -> contact flow id
}

var _ signup.PhoneAnswerer = (*Answerer)(nil)

// InstanceID is the id part of an instance ARN.
func InstanceID(arn string) (string, error) {
	_, id, ok := strings.Cut(arn, ":instance/")
	if !ok || !strings.HasPrefix(arn, "arn:") || id == "" || strings.Contains(id, "/") {
		return "", fmt.Errorf("connect: %q is not a Connect instance ARN (arn:aws:connect:REGION:ACCOUNT:instance/ID)", arn)
	}
	return id, nil
}

func (a *Answerer) id() string {
	id, _ := InstanceID(a.InstanceARN)
	return id
}

// PromptName is the Connect prompt of a key's tone.
func PromptName(key string) string { return "ovm-dtmf-" + key }

// FlowName is the contact flow of a number.
func FlowName(number string) string { return "ovm-pin-" + strings.TrimPrefix(number, "+") }

// Setup makes or repairs everything the calls need, idempotently: the
// prompts, one flow per number (reset to hang up), and each number
// associated with its flow. A number not claimed in the instance is an
// error naming it.
func (a *Answerer) Setup(ctx context.Context) error {
	if _, err := InstanceID(a.InstanceARN); err != nil {
		return err
	}
	if err := a.setupPrompts(ctx); err != nil {
		return err
	}
	claimed := map[string]string{}
	numbers := connect.NewListPhoneNumbersV2Paginator(a.Connect, &connect.ListPhoneNumbersV2Input{TargetArn: aws.String(a.InstanceARN)})
	for numbers.HasMorePages() {
		out, err := numbers.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("connect: list the instance's numbers: %w", err)
		}
		for _, n := range out.ListPhoneNumbersSummaryList {
			claimed[aws.ToString(n.PhoneNumber)] = aws.ToString(n.PhoneNumberId)
		}
	}
	flows, err := a.listFlows(ctx)
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.flows = map[string]string{}
	a.mu.Unlock()
	idle := a.content("")
	for _, number := range a.Numbers {
		pid, ok := claimed[number]
		if !ok {
			return fmt.Errorf("connect: %s is not claimed in instance %s (claim it, or remove it from phone_numbers)", number, a.InstanceARN)
		}
		id, ok := flows[FlowName(number)]
		if ok {
			_, err = a.Connect.UpdateContactFlowContent(ctx, &connect.UpdateContactFlowContentInput{
				InstanceId: aws.String(a.id()), ContactFlowId: aws.String(id), Content: aws.String(idle)})
		} else {
			var out *connect.CreateContactFlowOutput
			out, err = a.Connect.CreateContactFlow(ctx, &connect.CreateContactFlowInput{InstanceId: aws.String(a.id()),
				Name: aws.String(FlowName(number)), Type: types.ContactFlowTypeContactFlow, Content: aws.String(idle),
				Description: aws.String("OVM: keys in the PIN of the AWS sign-up verification call to " + number),
				Tags:        map[string]string{"ovm:managed-by": "ovm"}})
			if out != nil {
				id = aws.ToString(out.ContactFlowId)
			}
		}
		if err != nil {
			return fmt.Errorf("connect: flow %s: %w", FlowName(number), err)
		}
		if _, err := a.Connect.AssociatePhoneNumberContactFlow(ctx, &connect.AssociatePhoneNumberContactFlowInput{
			InstanceId: aws.String(a.id()), PhoneNumberId: aws.String(pid), ContactFlowId: aws.String(id)}); err != nil {
			return fmt.Errorf("connect: associate %s with its flow: %w", number, err)
		}
		a.mu.Lock()
		a.flows[number] = id
		a.mu.Unlock()
	}
	return nil
}

// keys are the prompts OVM keeps: the ten digits, and the silences.
var keys = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "silence", "pause"}

func (a *Answerer) setupPrompts(ctx context.Context) error {
	have := map[string]string{}
	pages := connect.NewListPromptsPaginator(a.Connect, &connect.ListPromptsInput{InstanceId: aws.String(a.id())})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("connect: list prompts: %w", err)
		}
		for _, p := range out.PromptSummaryList {
			have[aws.ToString(p.Name)] = aws.ToString(p.Arn)
		}
	}
	prefix := a.Prefix
	if prefix == "" {
		prefix = "ovm-prompts/"
	}
	delay := a.AnswerDelay
	if delay == 0 {
		delay = 3 * time.Second
	}
	prompts := map[string]string{}
	for _, k := range keys {
		name := PromptName(k)
		if arn, ok := have[name]; ok {
			prompts[k] = arn
			continue
		}
		var wav []byte
		switch k {
		case "silence":
			wav = Silence(delay)
		case "pause":
			wav = Silence(time.Second)
		default:
			wav, _ = Tone(rune(k[0]), 0, 0)
		}
		key := prefix + name + ".wav"
		if _, err := a.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(a.Bucket), Key: aws.String(key),
			Body: strings.NewReader(string(wav)), ContentType: aws.String("audio/wav")}); err != nil {
			return fmt.Errorf("connect: upload prompt %s: %w", name, err)
		}
		out, err := a.Connect.CreatePrompt(ctx, &connect.CreatePromptInput{InstanceId: aws.String(a.id()),
			Name: aws.String(name), S3Uri: aws.String("s3://" + a.Bucket + "/" + key),
			Description: aws.String("OVM: DTMF/silence prompt"), Tags: map[string]string{"ovm:managed-by": "ovm"}})
		if err != nil {
			return fmt.Errorf("connect: create prompt %s: %w", name, err)
		}
		prompts[k] = aws.ToString(out.PromptARN)
	}
	a.mu.Lock()
	a.prompts = prompts
	a.mu.Unlock()
	return nil
}

func (a *Answerer) listFlows(ctx context.Context) (map[string]string, error) {
	flows := map[string]string{}
	pages := connect.NewListContactFlowsPaginator(a.Connect, &connect.ListContactFlowsInput{InstanceId: aws.String(a.id()),
		ContactFlowTypes: []types.ContactFlowType{types.ContactFlowTypeContactFlow}})
	for pages.HasMorePages() {
		out, err := pages.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("connect: list contact flows: %w", err)
		}
		for _, f := range out.ContactFlowSummaryList {
			flows[aws.ToString(f.Name)] = aws.ToString(f.Id)
		}
	}
	return flows, nil
}

// Arm implements signup.PhoneAnswerer: the next call to number keys in pin.
func (a *Answerer) Arm(ctx context.Context, number, pin string) error {
	for _, d := range pin {
		if d < '0' || d > '9' {
			return errors.New("connect: a PIN is digits only")
		}
	}
	if pin == "" {
		return errors.New("connect: empty PIN")
	}
	return a.write(ctx, number, a.content(pin))
}

// Disarm implements signup.PhoneAnswerer: calls to number hang up at once.
func (a *Answerer) Disarm(ctx context.Context, number string) error {
	return a.write(ctx, number, a.content(""))
}

func (a *Answerer) write(ctx context.Context, number, content string) error {
	a.mu.Lock()
	id, ok := a.flows[number]
	a.mu.Unlock()
	if !ok {
		return fmt.Errorf("connect: %s has no flow (is it in phone_numbers? did Setup run?)", number)
	}
	if _, err := a.Connect.UpdateContactFlowContent(ctx, &connect.UpdateContactFlowContentInput{
		InstanceId: aws.String(a.id()), ContactFlowId: aws.String(id), Content: aws.String(content)}); err != nil {
		return fmt.Errorf("connect: update the flow of %s: %w", number, err)
	}
	return nil
}

// Validate reads number's flow back and reports whether it plays pin
// ("" = hangs up at once), so an operator's manual edit is noticed.
func (a *Answerer) Validate(ctx context.Context, number, pin string) error {
	a.mu.Lock()
	id, ok := a.flows[number]
	a.mu.Unlock()
	if !ok {
		return fmt.Errorf("connect: %s has no flow", number)
	}
	out, err := a.Connect.DescribeContactFlow(ctx, &connect.DescribeContactFlowInput{InstanceId: aws.String(a.id()), ContactFlowId: aws.String(id)})
	if err != nil {
		return fmt.Errorf("connect: describe the flow of %s: %w", number, err)
	}
	var got, want any
	json.Unmarshal([]byte(aws.ToString(out.ContactFlow.Content)), &got)
	json.Unmarshal([]byte(a.content(pin)), &want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("connect: the flow of %s (%s) was changed outside OVM", number, FlowName(number))
	}
	return nil
}

// flow is Amazon Connect's flow language (version 2019-10-30).
type flow struct {
	Version     string   `json:"Version"`
	StartAction string   `json:"StartAction"`
	Actions     []action `json:"Actions"`
}

type action struct {
	Identifier  string         `json:"Identifier"`
	Type        string         `json:"Type"`
	Parameters  map[string]any `json:"Parameters"`
	Transitions transitions    `json:"Transitions"`
}

type transitions struct {
	NextAction string       `json:"NextAction,omitempty"`
	Errors     []errorRoute `json:"Errors,omitempty"`
}

type errorRoute struct {
	NextAction string `json:"NextAction"`
	ErrorType  string `json:"ErrorType"`
}

// content is the flow of a number: with a PIN, the answer delay, one tone
// prompt per digit, a pause, then hang up; without, hang up at once.
func (a *Answerer) content(pin string) string {
	a.mu.Lock()
	prompts := a.prompts
	a.mu.Unlock()
	f := flow{Version: "2019-10-30", StartAction: "hangup"}
	var plays []string
	if pin != "" {
		plays = append(plays, "silence")
		for _, d := range pin {
			plays = append(plays, string(d))
		}
		plays = append(plays, "pause")
	}
	for i, k := range plays {
		next := "hangup"
		if i+1 < len(plays) {
			next = fmt.Sprintf("play-%d", i+1)
		}
		f.Actions = append(f.Actions, action{Identifier: fmt.Sprintf("play-%d", i), Type: "MessageParticipant",
			Parameters:  map[string]any{"PromptId": prompts[k]},
			Transitions: transitions{NextAction: next, Errors: []errorRoute{{NextAction: "hangup", ErrorType: "NoMatchingError"}}}})
	}
	if len(plays) > 0 {
		f.StartAction = "play-0"
	}
	f.Actions = append(f.Actions, action{Identifier: "hangup", Type: "DisconnectParticipant", Parameters: map[string]any{}})
	b, _ := json.Marshal(f)
	return string(b)
}
