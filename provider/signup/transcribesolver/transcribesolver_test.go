package transcribesolver_test

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/transcribe"
	"github.com/ovmdev/ovm/internal/mototest"
	"github.com/ovmdev/ovm/internal/testtool"
	"github.com/ovmdev/ovm/provider/signup"
	"github.com/ovmdev/ovm/provider/signup/replica"
	"github.com/ovmdev/ovm/provider/signup/transcribesolver"
)

func TestMain(m *testing.M) { os.Exit(mototest.Main(m)) }

// transcriber fills moto's gap: moto runs Transcribe's jobs (start, status
// QUEUED → IN_PROGRESS → COMPLETED, delete) but never writes a transcript.
// When a job starts, this stand-in reads the media from moto's S3, recognizes
// it with the test's espeak-ng digit recognizer, and writes the transcript
// in Transcribe's JSON to the job's output location, spelled as a
// transcriber would ("for" for 4, "to" for 2, "oh" for 0).
type transcriber struct {
	*transcribe.Client
	s3         *s3.Client
	recognizer string
	t          *testing.T
}

func (tr *transcriber) StartTranscriptionJob(ctx context.Context, in *transcribe.StartTranscriptionJobInput, opts ...func(*transcribe.Options)) (*transcribe.StartTranscriptionJobOutput, error) {
	out, err := tr.Client.StartTranscriptionJob(ctx, in, opts...)
	if err != nil {
		return out, err
	}
	bucket, key, _ := strings.Cut(strings.TrimPrefix(aws.ToString(in.Media.MediaFileUri), "s3://"), "/")
	obj, err := tr.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		tr.t.Errorf("the media is not where the job says: %v", err)
		return out, nil
	}
	audio, _ := io.ReadAll(obj.Body)
	obj.Body.Close()
	f := filepath.Join(tr.t.TempDir(), "media.wav")
	os.WriteFile(f, audio, 0o600)
	digits, err := exec.Command(tr.recognizer, f).Output()
	if err != nil {
		tr.t.Errorf("recognizer: %v", err)
	}
	spoken := map[rune]string{'0': "oh", '1': "one", '2': "to", '3': "three", '4': "for", '5': "five", '6': "six", '7': "seven", '8': "ate", '9': "nine"}
	var w []string
	for _, d := range strings.TrimSpace(string(digits)) {
		w = append(w, spoken[d])
	}
	transcript, _ := json.Marshal(map[string]any{"jobName": aws.ToString(in.TranscriptionJobName), "status": "COMPLETED",
		"results": map[string]any{"transcripts": []map[string]string{{"transcript": strings.Join(w, " ") + "."}}}})
	if _, err := tr.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: in.OutputBucketName, Key: in.OutputKey,
		Body: strings.NewReader(string(transcript))}); err != nil {
		tr.t.Errorf("writing the transcript: %v", err)
	}
	return out, nil
}

func TestAnAudioCaptchaIsSolvedThroughTranscribeAndLeavesNothingBehind(t *testing.T) {
	testtool.Require(t, "espeak-ng", "make deps installs it")
	srv := mototest.Require(t)
	ctx := mototest.WithContext(t)
	cfg := srv.Config()
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	if _, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("ovm-captcha")}); err != nil {
		t.Fatal(err)
	}
	recognizer := filepath.Join(t.TempDir(), "digitsolver")
	if b, err := exec.Command("go", "build", "-o", recognizer, "../testdata/digitsolver").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, b)
	}
	tc := transcribe.NewFromConfig(cfg)
	solver := &transcribesolver.Solver{Transcribe: &transcriber{Client: tc, s3: s3c, recognizer: recognizer, t: t},
		S3: s3c, Bucket: "ovm-captcha", Poll: 10 * time.Millisecond}

	for _, want := range []string{"4729", "8026"} {
		audio, err := replica.SpeakDigits(want)
		if err != nil {
			t.Fatal(err)
		}
		got, err := solver.Solve(ctx, signup.Captcha{Kind: "audio", Data: audio, Ext: ".wav"})
		if err != nil || got != want {
			t.Fatalf("Solve = %q, %v; want %q", got, err, want)
		}
	}
	// The audio, the transcripts and the jobs are gone.
	objs, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("ovm-captcha")})
	if err != nil || len(objs.Contents) != 0 {
		t.Fatalf("left in the bucket: %d objects, %v", len(objs.Contents), err)
	}
	jobs, err := tc.ListTranscriptionJobs(ctx, &transcribe.ListTranscriptionJobsInput{})
	if err != nil || len(jobs.TranscriptionJobSummaries) != 0 {
		t.Fatalf("jobs left: %+v, %v", jobs, err)
	}
}

// Without a transcript (a job that completes but wrote nothing, as moto's
// do) the solver reports an error rather than an answer.
func TestAMissingTranscriptIsAnErrorNotAnAnswer(t *testing.T) {
	srv := mototest.Require(t)
	ctx := mototest.WithContext(t)
	cfg := srv.Config()
	s3c := s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = true })
	s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String("ovm-captcha")})
	solver := &transcribesolver.Solver{Transcribe: transcribe.NewFromConfig(cfg), S3: s3c, Bucket: "ovm-captcha", Poll: 10 * time.Millisecond}
	_, err := solver.Solve(ctx, signup.Captcha{Kind: "audio", Data: []byte("RIFF"), Ext: ".mp3"})
	if err == nil || !strings.Contains(err.Error(), "read the transcript") {
		t.Fatalf("Solve without a transcript = %v", err)
	}
	_, err = solver.Solve(ctx, signup.Captcha{Kind: "audio", Data: []byte("x"), Ext: ".aiff"})
	if err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("Solve of an unsupported type = %v", err)
	}
}
