// Command replicaserver runs the sign-up replica (provider/signup/replica)
// as its own process for the end-to-end test of `ovm serve`: mail goes to an
// S3 bucket (moto) as an SES receipt rule would put it, the verification
// call asks OVM's phone endpoint for the PIN as an Amazon Connect contact
// flow would, and the console's role stack creates the role in moto.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/ovmdev/ovm/provider/signup/replica"
)

var cfg aws.Config

type mail struct {
	bucket string
	n      int
}

func (m *mail) Send(to, subject, body string) error {
	m.n++
	raw := "From: no-reply@signup.replica\r\nTo: " + to + "\r\nSubject: " + subject + "\r\nContent-Type: text/plain\r\n\r\n" + body + "\r\n"
	_, err := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true }).PutObject(context.Background(),
		&s3.PutObjectInput{Bucket: aws.String(m.bucket), Key: aws.String(fmt.Sprintf("inbound/%d-%d", time.Now().UnixNano(), m.n)),
			Body: strings.NewReader(raw)})
	return err
}

// phone asks OVM which PIN to key in (the file holds OVM's URL and key,
// written by the test once OVM runs).
type phone struct{ ovmFile string }

func (p phone) Call(number string) (string, error) {
	b, err := os.ReadFile(p.ovmFile)
	if err != nil {
		return "", err
	}
	url, key, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	req, _ := http.NewRequest("GET", url+"/v1/phone/"+number+"/pin", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var out struct{ PIN string }
	json.NewDecoder(res.Body).Decode(&out)
	return out.PIN, nil
}

type console struct{}

func (console) CreateRole(acct, role, principal string) error {
	c := cfg.Copy()
	c.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg),
		"arn:aws:iam::"+acct+":role/OrganizationAccountAccessRole"))
	trust := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":%q},"Action":"sts:AssumeRole"}]}`, principal)
	_, err := iam.NewFromConfig(c).CreateRole(context.Background(), &iam.CreateRoleInput{RoleName: aws.String(role), AssumeRolePolicyDocument: aws.String(trust)})
	return err
}

func main() {
	moto := flag.String("moto", "", "moto URL")
	bucket := flag.String("bucket", "ovm-mail", "mail bucket")
	ovmFile := flag.String("ovm-file", "", "file with OVM's URL and admin key")
	withGateway := flag.Bool("aws-gateway", false, "also serve an AWS endpoint: moto, plus the graveyard's handshakes")
	connectInstance := flag.String("connect-instance", "", "stand in for this Amazon Connect instance (ARN) on the gateway; calls play its flows")
	connectNumbers := flag.String("connect-numbers", "", "comma-separated numbers claimed in the Connect instance")
	flag.Parse()
	var answer replica.Phone = phone{*ovmFile}
	var cs *connectService
	if *connectInstance != "" {
		cs = newConnect(*connectInstance, strings.Split(*connectNumbers, ","))
		answer = connectPhone{cs}
	}
	cfg = aws.Config{Region: "us-east-1", BaseEndpoint: aws.String(*moto),
		Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", "")}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	if *withGateway {
		gln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			log.Fatal(err)
		}
		g := newGateway(*moto)
		if cs != nil {
			g.connect = cs
		}
		mux := http.NewServeMux()
		mux.HandleFunc("GET /burials", g.burials)
		mux.Handle("/", g)
		go http.Serve(gln, mux)
		fmt.Printf("aws gateway on http://%s\n", gln.Addr())
	}
	fmt.Printf("replica listening on http://%s\n", ln.Addr())
	log.Fatal(http.Serve(ln, replica.New(replica.Original, &mail{bucket: *bucket}, answer, console{})))
}
