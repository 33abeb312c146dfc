package main

import (
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// errEOF is what the YAML decoder returns for an empty document.
var errEOF = io.EOF

var (
	durationType = reflect.TypeOf(time.Duration(0))
	targetType   = reflect.TypeOf(TargetValue{})
)

func typeOf[T any]() reflect.Type { return reflect.TypeOf((*T)(nil)).Elem() }

// reflectTypeOf is the type a pointer points to.
func reflectTypeOf(ptr any) reflect.Type { return reflect.TypeOf(ptr).Elem() }

// yamlFields maps the YAML keys of struct type t to their field types.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag != "" && tag != "-" {
			fields[tag] = t.Field(i).Type
		}
	}
	return fields
}

func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func unknownKey(line int, path string, known []string) error {
	sort.Strings(known)
	return fmt.Errorf("line %d: %s: unknown key (known keys here: %s)", line, path, strings.Join(known, ", "))
}

// checkNode walks node n along type t before it is decoded and reports,
// with its key path, the first key that is not a field and the first value
// of the wrong shape or type, in words rather than Go types.
func checkNode(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil // null leaves the default
	}
	at := func(format string, args ...any) error {
		return fmt.Errorf("line %d: %s: %s", n.Line, path, fmt.Sprintf(format, args...))
	}
	switch {
	case t == targetType:
		var v TargetValue
		if n.Kind != yaml.ScalarNode || v.UnmarshalYAML(n) != nil {
			return at("%q must be a whole number or auto", n.Value)
		}
	case t == durationType:
		if n.Kind != yaml.ScalarNode {
			return at("must be a duration (use \"90s\", \"30m\", \"24h\")")
		}
		d, err := time.ParseDuration(n.Value)
		if err != nil {
			return at("%q is not a duration (use \"90s\", \"30m\", \"24h\")", n.Value)
		}
		if d < 0 {
			return at("duration %q must not be negative", n.Value)
		}
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return at("must be a mapping of keys")
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			key := strings.TrimPrefix(path+"."+k, ".")
			ft, ok := fields[k]
			if !ok {
				return unknownKey(n.Content[i].Line, key, keysOf(fields))
			}
			if err := checkNode(n.Content[i+1], ft, key); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			return at("must be a mapping of keys")
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkNode(n.Content[i+1], t.Elem(), path+"."+n.Content[i].Value); err != nil {
				return err
			}
		}
	case t.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return at("must be a list")
		}
		for i, c := range n.Content {
			if err := checkNode(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	default:
		if n.Kind != yaml.ScalarNode {
			return at("must be a single value, not a %s", map[yaml.Kind]string{yaml.MappingNode: "mapping", yaml.SequenceNode: "list"}[n.Kind])
		}
		whole := t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64
		if err := n.Decode(reflect.New(t).Interface()); err != nil || whole && n.ShortTag() != "!!int" {
			return at("%q %s", n.Value, mustBe(t))
		}
	}
	return nil
}

// mustBe says in words what a scalar of type t must be.
func mustBe(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "must be a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "must be a whole number, not negative"
	case reflect.Float32, reflect.Float64:
		return "must be a number"
	case reflect.Bool:
		return "must be true or false"
	}
	return "must be text"
}

// cleanYAMLError drops the decoder's Go type names from err (checkNode
// reports wrong types first, so this is a fallback).
func cleanYAMLError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return errors.New(strings.Join(te.Errors, "; "))
	}
	return err
}
