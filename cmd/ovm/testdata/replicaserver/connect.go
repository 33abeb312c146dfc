package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/ovmdev/ovm/internal/dtmftest"
)

// connectService stands in for Amazon Connect at the HTTP level (its REST
// API: prompts, contact flows, phone numbers), because moto has none of it.
// It serves one instance with the numbers given on the command line, keeps
// what OVM creates, and places the verification call: it walks the flow
// associated with the number, plays its prompts from S3 (moto) and hears
// the keys with an independent DTMF detector. The replica's phone page
// gets the PIN only that way, so the test proves the whole chain.
type connectService struct {
	instance string            // ARN
	numbers  map[string]string // number -> id
	mu       sync.Mutex
	prompts  map[string]string // ARN -> S3 URI
	names    map[string]string // name -> ARN
	flows    map[string]*cflow // id -> flow
	assoc    map[string]string // number id -> flow id
	n        int
}

type cflow struct{ Id, Name, Type, Content string }

func newConnect(instance string, numbers []string) *connectService {
	c := &connectService{instance: instance, numbers: map[string]string{}, prompts: map[string]string{}, names: map[string]string{},
		flows: map[string]*cflow{}, assoc: map[string]string{}}
	for i, n := range numbers {
		c.numbers[n] = fmt.Sprintf("pn-%d", i)
	}
	return c
}

func (c *connectService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var in map[string]any
	json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&in)
	str := func(k string) string { s, _ := in[k].(string); return s }
	reply := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	notFound := func(what string) {
		w.Header().Set("X-Amzn-Errortype", "ResourceNotFoundException")
		reply(404, map[string]string{"Message": what + " not found"})
	}
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	id := c.instance[strings.LastIndex(c.instance, "/")+1:]
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case len(p) >= 2 && p[0] != "phone-number" && p[1] != id:
		notFound("instance " + p[1])
	case r.Method == "GET" && p[0] == "prompts-summary":
		var l []map[string]string
		for name, arn := range c.names {
			l = append(l, map[string]string{"Name": name, "Arn": arn, "Id": arn[strings.LastIndex(arn, "/")+1:]})
		}
		reply(200, map[string]any{"PromptSummaryList": l})
	case r.Method == "PUT" && p[0] == "prompts":
		c.n++
		arn := fmt.Sprintf("%s/prompt/p-%d", c.instance, c.n)
		c.prompts[arn], c.names[str("Name")] = str("S3Uri"), arn
		reply(200, map[string]string{"PromptARN": arn, "PromptId": fmt.Sprintf("p-%d", c.n)})
	case r.Method == "GET" && p[0] == "contact-flows-summary":
		var l []map[string]string
		for _, f := range c.flows {
			l = append(l, map[string]string{"Id": f.Id, "Name": f.Name, "ContactFlowType": f.Type})
		}
		reply(200, map[string]any{"ContactFlowSummaryList": l})
	case r.Method == "PUT" && p[0] == "contact-flows":
		c.n++
		f := &cflow{Id: fmt.Sprintf("f-%d", c.n), Name: str("Name"), Type: str("Type"), Content: str("Content")}
		c.flows[f.Id] = f
		reply(200, map[string]string{"ContactFlowId": f.Id, "ContactFlowArn": c.instance + "/contact-flow/" + f.Id})
	case r.Method == "POST" && p[0] == "contact-flows" && len(p) == 4:
		f := c.flows[p[2]]
		if f == nil {
			notFound("flow")
			return
		}
		f.Content = str("Content")
		reply(200, map[string]any{})
	case r.Method == "GET" && p[0] == "contact-flows" && len(p) == 3:
		f := c.flows[p[2]]
		if f == nil {
			notFound("flow")
			return
		}
		reply(200, map[string]any{"ContactFlow": f})
	case r.Method == "POST" && r.URL.Path == "/phone-number/list":
		var l []map[string]string
		if str("TargetArn") == c.instance {
			for n, nid := range c.numbers {
				l = append(l, map[string]string{"PhoneNumber": n, "PhoneNumberId": nid, "TargetArn": c.instance})
			}
		}
		reply(200, map[string]any{"ListPhoneNumbersSummaryList": l})
	case r.Method == "PUT" && p[0] == "phone-number" && len(p) == 3:
		if c.flows[str("ContactFlowId")] == nil {
			notFound("flow")
			return
		}
		c.assoc[p[1]] = str("ContactFlowId")
		reply(200, map[string]any{})
	default:
		reply(400, map[string]string{"Message": "the replica's Connect does not do " + r.Method + " " + r.URL.Path})
	}
}

// call places the verification call to number: the keys its flow plays.
func (c *connectService) call(number string) (string, error) {
	c.mu.Lock()
	f := c.flows[c.assoc[c.numbers[number]]]
	var content string
	if f != nil {
		content = f.Content
	}
	prompts := map[string]string{}
	for k, v := range c.prompts {
		prompts[k] = v
	}
	c.mu.Unlock()
	if f == nil {
		return "", fmt.Errorf("%s has no contact flow", number)
	}
	return dtmftest.Call(content, func(id string) ([]byte, error) {
		uri := prompts[id]
		bucket, key, _ := strings.Cut(strings.TrimPrefix(uri, "s3://"), "/")
		obj, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).GetObject(context.Background(),
			&s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			return nil, fmt.Errorf("prompt %s: %w", uri, err)
		}
		defer obj.Body.Close()
		return io.ReadAll(obj.Body)
	})
}

// connectPhone is the replica's phone when Connect answers the calls.
type connectPhone struct{ c *connectService }

func (p connectPhone) Call(number string) (string, error) {
	pin, err := p.c.call(number)
	if err == nil && pin == "" {
		err = fmt.Errorf("the call to %s keyed in nothing", number)
	}
	return pin, err
}
