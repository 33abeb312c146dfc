// Package transcribesolver solves audio captchas with Amazon Transcribe: the
// audio goes to an S3 bucket, a batch transcription job writes its
// transcript to the same bucket, and the spoken words become digits ("for"
// is 4, "oh" is 0). Media, transcript and job are deleted afterwards.
package transcribesolver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/transcribe"
	"github.com/aws/aws-sdk-go-v2/service/transcribe/types"
	"github.com/ovmdev/ovm/provider/signup"
)

// TranscribeAPI is the part of Amazon Transcribe the solver uses.
type TranscribeAPI interface {
	StartTranscriptionJob(context.Context, *transcribe.StartTranscriptionJobInput, ...func(*transcribe.Options)) (*transcribe.StartTranscriptionJobOutput, error)
	GetTranscriptionJob(context.Context, *transcribe.GetTranscriptionJobInput, ...func(*transcribe.Options)) (*transcribe.GetTranscriptionJobOutput, error)
	DeleteTranscriptionJob(context.Context, *transcribe.DeleteTranscriptionJobInput, ...func(*transcribe.Options)) (*transcribe.DeleteTranscriptionJobOutput, error)
}

// S3API is the part of S3 the solver uses.
type S3API interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// Solver implements signup.CaptchaSolver for audio captchas.
type Solver struct {
	Transcribe TranscribeAPI
	S3         S3API
	Bucket     string // holds the audio and the transcript (required)
	Prefix     string // key prefix (default "ovm-captcha/")
	Language   string // default en-US
	Poll       time.Duration
	Timeout    time.Duration // one captcha's budget (default 3m)
}

var _ signup.CaptchaSolver = (*Solver)(nil)

// Name implements signup.CaptchaSolver.
func (s *Solver) Name() string { return "transcribe" }

// Kinds implements signup.CaptchaSolver.
func (s *Solver) Kinds() []string { return []string{"audio"} }

// formats maps file extensions to Transcribe's media formats.
var formats = map[string]types.MediaFormat{
	".mp3": types.MediaFormatMp3, ".wav": types.MediaFormatWav, ".flac": types.MediaFormatFlac,
	".ogg": types.MediaFormatOgg, ".webm": types.MediaFormatWebm, ".mp4": types.MediaFormatMp4,
	".m4a": types.MediaFormatM4a, ".amr": types.MediaFormatAmr,
}

// Solve implements signup.CaptchaSolver.
func (s *Solver) Solve(ctx context.Context, c signup.Captcha) (string, error) {
	format, ok := formats[strings.ToLower(c.Ext)]
	if !ok {
		return "", fmt.Errorf("transcribe: audio of type %q is not supported", c.Ext)
	}
	timeout, poll, prefix, lang := s.Timeout, s.Poll, s.Prefix, s.Language
	if timeout == 0 {
		timeout = 3 * time.Minute
	}
	if poll == 0 {
		poll = 2 * time.Second
	}
	if prefix == "" {
		prefix = "ovm-captcha/"
	}
	if lang == "" {
		lang = "en-US"
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var r [8]byte
	rand.Read(r[:])
	job := "ovm-captcha-" + hex.EncodeToString(r[:])
	media, transcript := path.Join(prefix, job+c.Ext), path.Join(prefix, job+".json")

	if _, err := s.S3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(media),
		Body: bytes.NewReader(c.Data)}); err != nil {
		return "", fmt.Errorf("transcribe: upload the captcha: %w", err)
	}
	defer s.forget(ctx, job, media, transcript)
	if _, err := s.Transcribe.StartTranscriptionJob(ctx, &transcribe.StartTranscriptionJobInput{
		TranscriptionJobName: aws.String(job), LanguageCode: types.LanguageCode(lang), MediaFormat: format,
		Media:            &types.Media{MediaFileUri: aws.String("s3://" + s.Bucket + "/" + media)},
		OutputBucketName: aws.String(s.Bucket), OutputKey: aws.String(transcript),
	}); err != nil {
		return "", fmt.Errorf("transcribe: start job: %w", err)
	}
	for {
		out, err := s.Transcribe.GetTranscriptionJob(ctx, &transcribe.GetTranscriptionJobInput{TranscriptionJobName: aws.String(job)})
		if err != nil {
			return "", fmt.Errorf("transcribe: job %s: %w", job, err)
		}
		switch j := out.TranscriptionJob; j.TranscriptionJobStatus {
		case types.TranscriptionJobStatusCompleted:
			words, err := s.read(ctx, transcript)
			if err != nil {
				return "", err
			}
			digits := Digits(words)
			if digits == "" {
				return "", fmt.Errorf("transcribe: no digits in %q", words)
			}
			return digits, nil
		case types.TranscriptionJobStatusFailed:
			return "", fmt.Errorf("transcribe: job %s failed: %s", job, aws.ToString(j.FailureReason))
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("transcribe: job %s not done in %s: %w", job, timeout, ctx.Err())
		case <-time.After(poll): // a real-time poll: the job runs at AWS, and no clock of ours hurries it
		}
	}
}

// read returns the transcript's text.
func (s *Solver) read(ctx context.Context, key string) (string, error) {
	obj, err := s.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(key)})
	if err != nil {
		return "", fmt.Errorf("transcribe: read the transcript: %w", err)
	}
	defer obj.Body.Close()
	var t struct {
		Results struct {
			Transcripts []struct {
				Transcript string `json:"transcript"`
			} `json:"transcripts"`
		} `json:"results"`
	}
	if err := json.NewDecoder(io.LimitReader(obj.Body, 1<<20)).Decode(&t); err != nil {
		return "", fmt.Errorf("transcribe: the transcript is not Transcribe's JSON: %w", err)
	}
	if len(t.Results.Transcripts) == 0 {
		return "", errors.New("transcribe: the transcript is empty")
	}
	return t.Results.Transcripts[0].Transcript, nil
}

// forget deletes the job and both objects; they hold nothing secret, and a
// failure to delete only leaves clutter, so errors are ignored. It runs as
// Solve returns, often because ctx ended, so it outlives ctx
// (context.WithoutCancel) with a timeout of its own.
func (s *Solver) forget(ctx context.Context, job, media, transcript string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	s.Transcribe.DeleteTranscriptionJob(ctx, &transcribe.DeleteTranscriptionJobInput{TranscriptionJobName: aws.String(job)})
	for _, k := range []string{media, transcript} {
		s.S3.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.Bucket), Key: aws.String(k)})
	}
}

// words maps spoken words, and the homophones a transcriber writes for
// them, to digits.
var words = map[string]string{
	"zero": "0", "oh": "0", "o": "0", "nought": "0",
	"one": "1", "won": "1",
	"two": "2", "to": "2", "too": "2",
	"three": "3", "tree": "3", "free": "3",
	"four": "4", "for": "4", "fore": "4",
	"five": "5",
	"six":  "6", "sex": "6",
	"seven": "7",
	"eight": "8", "ate": "8",
	"nine": "9", "nein": "9",
}

var tens = map[string]string{
	"twenty": "2", "thirty": "3", "forty": "4", "fifty": "5", "sixty": "6", "seventy": "7", "eighty": "8", "ninety": "9",
}

var teens = map[string]string{
	"ten": "10", "eleven": "11", "twelve": "12", "thirteen": "13", "fourteen": "14", "fifteen": "15",
	"sixteen": "16", "seventeen": "17", "eighteen": "18", "nineteen": "19",
}

// Digits turns a transcript into the digits it speaks: digit words and
// their homophones, numerals ("72", "4,729"), tens ("seventy two" is 72,
// "seventy" alone is 70) and "double"/"triple" repeats. Other words are
// ignored.
func Digits(transcript string) string {
	f := strings.FieldsFunc(strings.ToLower(transcript), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
	var out strings.Builder
	repeat := 1
	for i := 0; i < len(f); i++ {
		w := f[i]
		var d string
		switch {
		case w == "double":
			repeat = 2
			continue
		case w == "triple":
			repeat = 3
			continue
		case strings.Trim(w, "0123456789") == "":
			d = w
		case words[w] != "":
			d = words[w]
		case teens[w] != "":
			d = teens[w]
		case tens[w] != "":
			d = tens[w] + "0"
			if i+1 < len(f) && words[f[i+1]] != "" && words[f[i+1]] != "0" && f[i+1] != "to" && f[i+1] != "for" {
				d = tens[w] + words[f[i+1]]
				i++
			}
		default:
			repeat = 1
			continue
		}
		out.WriteString(strings.Repeat(d, repeat))
		repeat = 1
	}
	return out.String()
}
