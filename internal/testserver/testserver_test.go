package testserver_test

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ovmdev/ovm/internal/testserver"
)

// The test binary doubles as the server: with TESTSERVER_PORT set it serves
// HTTP on that port after a short delay, as a slow server would.
func TestMain(m *testing.M) {
	if port := os.Getenv("TESTSERVER_PORT"); port != "" {
		fmt.Println("starting")
		time.Sleep(300 * time.Millisecond)
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
		fmt.Println(http.ListenAndServe("127.0.0.1:"+port, nil))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func self() testserver.Options {
	return testserver.Options{
		Name: "self",
		Find: os.Executable,
		Command: func(path string, port int) *exec.Cmd {
			cmd := exec.Command(path)
			cmd.Env = append(os.Environ(), fmt.Sprint("TESTSERVER_PORT=", port))
			return cmd
		},
		Ready: func(url string) error {
			res, err := http.Get(url)
			if err == nil {
				res.Body.Close()
			}
			return err
		},
	}
}

func TestAServerIsReadyWhenItAnswersAndGoneAfterStop(t *testing.T) {
	p, err := testserver.Start(self())
	if err != nil {
		t.Fatal(err)
	}
	if res, err := http.Get(p.URL); err != nil {
		t.Fatalf("a ready server does not answer: %v", err)
	} else {
		res.Body.Close()
	}
	if !strings.Contains(p.Output(), "starting") {
		t.Errorf("output %q", p.Output())
	}
	p.Stop()
	p.Stop() // twice is a no-op
	c := &http.Client{Timeout: time.Second}
	if res, err := c.Get(p.URL); err == nil {
		res.Body.Close()
		t.Fatal("the server still answers after Stop")
	}
}

func TestAServerThatNeverAnswersIsAnErrorWithItsOutput(t *testing.T) {
	o := self()
	o.Ready = func(string) error { return errors.New("no") }
	o.Timeout = 500 * time.Millisecond
	_, err := testserver.Start(o)
	if err == nil || !strings.Contains(err.Error(), "did not answer") || !strings.Contains(err.Error(), "starting") {
		t.Fatalf("err = %v", err)
	}
}

func TestAMissingProgramIsAnError(t *testing.T) {
	o := self()
	o.Find = func() (string, error) { return "", exec.ErrNotFound }
	if _, err := testserver.Start(o); !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
}

func TestASharedServerStartsOnceAndAgainAfterStop(t *testing.T) {
	s := &testserver.Shared{Options: self()}
	a, b := s.Require(t), s.Require(t)
	if a != b {
		t.Fatal("two servers for one Shared")
	}
	s.Stop()
	c := s.Require(t)
	if c == a {
		t.Fatal("a stopped server was handed out")
	}
	s.Stop()
}
