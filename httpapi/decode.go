package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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

// decodeBytes is decode's pure part (fuzzed). Beyond encoding/json it
// refuses what encoding/json lets through: a body that is not an object
// (null included), field names in another case than documented, and a
// field given twice.
func decodeBytes(body []byte, v any, optional bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		if optional {
			return nil
		}
		return ovm.Errorf(ovm.EInvalid, "request body is required (a JSON object)")
	}
	if !utf8.Valid(body) {
		return ovm.Errorf(ovm.EInvalid, "request body must be UTF-8")
	}
	if err := checkFields(body, v); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var syn *json.SyntaxError
		var typ *json.UnmarshalTypeError
		var de *ovm.Error
		var te *time.ParseError
		switch {
		case errors.As(err, &syn):
			return ovm.Errorf(ovm.EInvalid, "malformed json at byte %d", syn.Offset)
		case errors.As(err, &typ) && strings.HasPrefix(typ.Field, "labels") && typ.Type.Kind() == reflect.String:
			return ovm.Errorf(ovm.EInvalid, "label values must be strings")
		case errors.As(err, &typ):
			return ovm.Errorf(ovm.EInvalid, "field %q must be %s", typ.Field, jsonKind(typ.Type))
		case errors.As(err, &de):
			return de // a field's own check (durations)
		case errors.As(err, &te):
			return ovm.Errorf(ovm.EInvalid, "%q is not an RFC 3339 time (e.g. 2026-01-02T15:04:05Z)", te.Value)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return ovm.Errorf(ovm.EInvalid, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
		case strings.Contains(err.Error(), "Time.UnmarshalJSON"):
			return ovm.Errorf(ovm.EInvalid, "times must be RFC 3339 strings (e.g. 2026-01-02T15:04:05Z)")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return ovm.Errorf(ovm.EInvalid, "malformed json: the body ends too early")
		default:
			return ovm.Errorf(ovm.EInvalid, "invalid request body: %s", strings.TrimPrefix(err.Error(), "json: "))
		}
	}
	if dec.More() {
		return ovm.Errorf(ovm.EInvalid, "request body must hold one json object")
	}
	return nil
}

// checkFields reads the top level of body: it must be a JSON object whose
// keys are the json names of v's fields, exactly and once each.
func checkFields(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return ovm.Errorf(ovm.EInvalid, "malformed json at byte %d", syn.Offset)
		}
		return ovm.Errorf(ovm.EInvalid, "malformed json")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return ovm.Errorf(ovm.EInvalid, "request body must be a JSON object, not %s", jsonTokenKind(tok))
	}
	names := jsonNames(reflect.TypeOf(v))
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil // the full decode names the syntax error
		}
		key, _ := tok.(string)
		if seen[key] {
			return ovm.Errorf(ovm.EInvalid, "field %q is given twice", key)
		}
		seen[key] = true
		if !names[key] {
			for n := range names {
				if strings.EqualFold(n, key) {
					return ovm.Errorf(ovm.EInvalid, "unknown field %q (field names are case-sensitive: %q)", key, n)
				}
			}
			return ovm.Errorf(ovm.EInvalid, "unknown field %q", key)
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
}

// jsonNames are the json field names of struct type t (through pointers).
func jsonNames(t reflect.Type) map[string]bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	names := map[string]bool{}
	if t.Kind() != reflect.Struct {
		return names
	}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case name == "-" || !f.IsExported():
		case name == "":
			names[f.Name] = true
		default:
			names[name] = true
		}
	}
	return names
}

// jsonKind says in words what JSON a Go type takes.
func jsonKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Map, reflect.Struct:
		if t == reflect.TypeOf(time.Time{}) {
			return "an RFC 3339 time string"
		}
		if t.Kind() == reflect.Map && t.Elem().Kind() == reflect.String {
			return "an object of strings"
		}
		return "an object"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Bool:
		return "true or false"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "a number"
}

// jsonTokenKind names a JSON token's kind for messages.
func jsonTokenKind(tok json.Token) string {
	switch v := tok.(type) {
	case nil:
		return "null"
	case json.Delim:
		if v == '[' {
			return "a list"
		}
	case string:
		return "a string"
	case bool:
		return "true or false"
	case float64, json.Number:
		return "a number"
	}
	return "something else"
}

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
		if !printable(k) || !printable(v) {
			return ovm.Errorf(ovm.EInvalid, "label keys and values must be UTF-8 text without control characters")
		}
		if k == "" || utf8.RuneCountInString(k) > maxLabelKey {
			return ovm.Errorf(ovm.EInvalid, "label keys must be 1-%d characters", maxLabelKey)
		}
		if utf8.RuneCountInString(v) > maxLabelValue {
			return ovm.Errorf(ovm.EInvalid, "label %q: values must be at most %d characters", k, maxLabelValue)
		}
	}
	return nil
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
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
