package ovm

import (
	"net/url"
	"strings"
)

// ConsoleDomains are the domains of the AWS console, one per partition
// (aws, aws-us-gov, aws-cn). A sign-in lands on one of them or on a host
// under one (a regional console: eu-west-1.console.aws.amazon.com).
var ConsoleDomains = []string{"console.aws.amazon.com", "console.amazonaws-us-gov.com", "console.amazonaws.cn"}

// MaxDestinationBytes bounds a destination.
const MaxDestinationBytes = 4096

// CheckConsoleDestination refuses a destination that is not plainly a page of
// the AWS console, so that a sign-in URL cannot lead anywhere else and no
// parser (OVM's, the federation endpoint's, a browser's) can read another
// host into it. "" (the configured destination) is accepted. A
// destination is accepted when it is:
//
//   - "https://" (lowercase), then a host, then nothing, or a path, query
//     or fragment starting with "/", "?" or "#";
//   - a host of labels of ASCII letters, digits and hyphens (1 to 63 each,
//     no hyphen first or last; 253 bytes at most) that is one of
//     ConsoleDomains or ends with "." and one of them, in any case;
//   - with no port but 443, no user information;
//   - printable ASCII throughout without a space or a backslash, every
//     "%" starting an escape of two hex digits, and at most
//     MaxDestinationBytes.
//
// The error (an EInvalid) says which rule was broken and quotes the
// destination's start only.
func CheckConsoleDestination(d string) error {
	if d == "" {
		return nil
	}
	if why := ConsoleDestinationFault(d); why != "" {
		return Errorf(EInvalid, "destination %q is not a page of the AWS console (https://console.aws.amazon.com/... "+
			"or a regional or other partition's console): %s", quoteStart(d), why)
	}
	return nil
}

// ConsoleDestinationFault says which rule of CheckConsoleDestination d
// breaks, or "" when it breaks none.
func ConsoleDestinationFault(d string) string {
	if len(d) > MaxDestinationBytes {
		return "it is longer than 4096 bytes"
	}
	for i := 0; i < len(d); i++ {
		switch c := d[i]; {
		case c <= ' ' || c >= 0x7f:
			return "it holds a space, a control or a non-ASCII character"
		case c == '\\':
			return "it holds a backslash"
		case c == '"' || c == '<' || c == '>' || c == '^' || c == '`' || c == '{' || c == '|' || c == '}':
			return "it holds a character a URL may not hold unescaped"
		case c == '%' && (i+2 >= len(d) || !ishex(d[i+1]) || !ishex(d[i+2])):
			return "it holds a % that starts no escape"
		}
	}
	rest, ok := strings.CutPrefix(d, "https://")
	if !ok {
		return "it does not start with https://"
	}
	authority := rest
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		authority = rest[:i]
	}
	if strings.Contains(authority, "@") {
		return "it names a user"
	}
	host, port, hasPort := strings.Cut(authority, ":")
	if hasPort && port != "443" {
		return "its port is not 443"
	}
	if why := hostFault(host); why != "" {
		return why
	}
	// Go's parser must read the same host: the checks above and the
	// parser agree, or the destination is refused.
	u, err := url.Parse(d)
	if err != nil || u.Scheme != "https" || u.Opaque != "" || u.User != nil || u.Host != authority {
		return "it does not parse as an https URL of that host"
	}
	return ""
}

// hostFault is why host is not a host name under a console domain.
func hostFault(host string) string {
	if host == "" {
		return "it names no host"
	}
	if len(host) > 253 {
		return "its host name is longer than 253 bytes"
	}
	for _, label := range strings.Split(host, ".") {
		if len(label) == 0 || len(label) > 63 {
			return "its host name has an empty label or one longer than 63 bytes"
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return "a label of its host name starts or ends with a hyphen"
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return "its host name holds a character other than a letter, a digit, a hyphen or a dot"
			}
		}
	}
	h := strings.ToLower(host)
	for _, c := range ConsoleDomains {
		if h == c || strings.HasSuffix(h, "."+c) {
			return ""
		}
	}
	return "its host is not under " + strings.Join(ConsoleDomains, ", ")
}

func ishex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// quoteStart is d cut to 100 bytes for an error message.
func quoteStart(d string) string {
	if len(d) <= 100 {
		return d
	}
	return strings.ToValidUTF8(d[:100], "") + "..."
}
