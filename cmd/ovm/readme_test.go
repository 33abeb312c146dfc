package main

import (
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
)

// Every ovm command the README shows in its code blocks is a command of
// the binary, with flags it has: a newcomer pasting them meets no
// "unknown command".
func TestTheREADMEsCommandsAreTheBinarys(t *testing.T) {
	md, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(string(md), -1)
	checked := 0
	for _, b := range blocks {
		for _, line := range strings.Split(b[1], "\n") {
			line = strings.TrimSpace(strings.SplitN(line, "#", 2)[0])
			if !strings.HasPrefix(line, "ovm ") {
				continue
			}
			args := strings.Fields(strings.SplitN(line, "|", 2)[0])[1:]
			var words []string
			for _, a := range args {
				if strings.HasPrefix(a, "<") || strings.HasPrefix(a, "--") {
					break
				}
				words = append(words, a)
			}
			root := newRoot(strings.NewReader(""), io.Discard, io.Discard)
			c, rest, err := root.Find(words)
			if err != nil || c == root || (len(rest) > 0 && c.Args == nil && len(c.Commands()) > 0) {
				t.Errorf("README: %q: no such command (%v)", line, err)
				continue
			}
			for _, a := range args {
				if a == "--" {
					break // what follows is the command exec runs
				}
				if name, ok := strings.CutPrefix(a, "--"); ok {
					name = strings.SplitN(name, "=", 2)[0]
					if c.Flags().Lookup(name) == nil && c.InheritedFlags().Lookup(name) == nil && root.PersistentFlags().Lookup(name) == nil {
						t.Errorf("README: %q: %s has no flag --%s", line, c.CommandPath(), name)
					}
				}
			}
			checked++
		}
	}
	if checked < 15 {
		t.Fatalf("only %d ovm commands found in the README", checked)
	}
}
