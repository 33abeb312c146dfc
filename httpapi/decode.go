package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ovmdev/ovm"
)

// decode reads a strict JSON object into v: unknown fields, trailing data
// and oversized bodies are errors. An empty body leaves v as it is when
// optional.
func decode(r *http.Request, v any, optional bool) error {
	body, err := io.ReadAll(r.Body)
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return ovm.Errorf(ovm.ETooLarge, "request body is larger than %d bytes", tooBig.Limit)
	}
	if err != nil {
		return ovm.Errorf(ovm.EInvalid, "cannot read request body")
	}
	return decodeBytes(body, v, optional)
}

// decodeBytes is decode's pure part (fuzzed).
func decodeBytes(body []byte, v any, optional bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return ovm.Errorf(ovm.EInvalid, "request body is required (a JSON object)")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syn):
			return ovm.Errorf(ovm.EInvalid, "malformed json at byte %d", syn.Offset)
		case errors.As(err, &typ):
			return ovm.Errorf(ovm.EInvalid, "field %q must be a %s", typ.Field, typ.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return ovm.Errorf(ovm.EInvalid, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		default:
			return ovm.Errorf(ovm.EInvalid, "malformed json: %s", strings.TrimPrefix(err.Error(), "json: "))
		}
	}
	if dec.More() {
		return ovm.Errorf(ovm.EInvalid, "request body must hold one json object")
	}
	return nil
}

// Duration is a Go duration string in JSON ("90s", "24h").
type Duration time.Duration

// UnmarshalJSON implements json.Unmarshaler.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return ovm.Errorf(ovm.EInvalid, "durations are strings like \"90s\", \"30m\" or \"24h\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return ovm.Errorf(ovm.EInvalid, "invalid duration %q: use a string like \"90s\", \"30m\" or \"24h\"", s)
	}
	if v < 0 {
		return ovm.Errorf(ovm.EInvalid, "duration %q must not be negative", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON implements json.Marshaler.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Label limits.
const (
	maxLabels     = 32
	maxLabelKey   = 63
	maxLabelValue = 256
)

func checkLabels(labels map[string]string) error {
	if len(labels) > maxLabels {
		return ovm.Errorf(ovm.EInvalid, "at most %d labels", maxLabels)
	}
	for k, v := range labels {
		if k == "" || len(k) > maxLabelKey {
			return ovm.Errorf(ovm.EInvalid, "label keys must be 1-%d characters", maxLabelKey)
		}
		if len(v) > maxLabelValue {
			return ovm.Errorf(ovm.EInvalid, "label %q: values must be at most %d characters", k, maxLabelValue)
		}
	}
	return nil
}

// pageParams reads ?limit= and ?cursor=.
func pageParams(r *http.Request) (ovm.PageParams, error) {
	q := r.URL.Query()
	p := ovm.PageParams{Cursor: q.Get("cursor")}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > ovm.MaxPageLimit {
			return p, ovm.Errorf(ovm.EInvalid, "limit must be an integer from 1 to %d", ovm.MaxPageLimit)
		}
		p.Limit = n
	}
	return p, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("httpapi: encode response: %w", err)
	}
	return nil
}
