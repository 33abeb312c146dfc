// Package dtmftest hears telephone keys in audio, as the far end of a call
// would, so tests can check the DTMF prompts OVM plays without trusting
// OVM's own encoder: it decodes mu-law WAV files independently (G.711) and
// detects the tone pairs with the Goertzel algorithm.
package dtmftest

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// Rate is the sample rate of telephone audio.
const Rate = 8000

// Samples decodes a mono 8 kHz mu-law WAV file (Amazon Connect's prompt
// format), refusing any other format.
func Samples(b []byte) ([]float64, error) {
	le := binary.LittleEndian
	if len(b) < 44 || string(b[:4]) != "RIFF" || string(b[8:16]) != "WAVEfmt " || int(le.Uint32(b[4:]))+8 != len(b) {
		return nil, errors.New("not a RIFF WAVE file")
	}
	if format, ch, rate, bits := le.Uint16(b[20:]), le.Uint16(b[22:]), le.Uint32(b[24:]), le.Uint16(b[34:]); format != 7 || ch != 1 || rate != Rate || bits != 8 {
		return nil, fmt.Errorf("format %d, %d channels, %d Hz, %d bits; want mu-law (7), mono, 8000 Hz, 8 bits", format, ch, rate, bits)
	}
	for i := 12; i+8 <= len(b); {
		id, size := string(b[i:i+4]), int(le.Uint32(b[i+4:]))
		i += 8
		if id == "data" {
			if size > len(b)-i {
				return nil, errors.New("truncated data chunk")
			}
			out := make([]float64, 0, size)
			for _, u := range b[i : i+size] {
				out = append(out, ulaw(u))
			}
			return out, nil
		}
		i += size + size%2
	}
	return nil, errors.New("no data chunk")
}

// ulaw expands one G.711 mu-law code: invert, then sign, exponent and
// mantissa of the biased magnitude.
func ulaw(u byte) float64 {
	u = ^u
	exp, mant := int(u>>4&7), int(u&15)
	mag := (2*mant+33)<<exp - 33 // in units of 4 (14-bit range)
	if u&0x80 != 0 {
		mag = -mag
	}
	return float64(mag * 4)
}

var rows, cols = []float64{697, 770, 852, 941}, []float64{1209, 1336, 1477, 1633}

var keys = [4][4]rune{{'1', '2', '3', 'A'}, {'4', '5', '6', 'B'}, {'7', '8', '9', 'C'}, {'*', '0', '#', 'D'}}

func goertzel(x []float64, f float64) float64 {
	w := 2 * math.Cos(2*math.Pi*f/Rate)
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = v+w*s1-s2, s1
	}
	return s1*s1 + s2*s2 - w*s1*s2
}

// strongest returns the index of the strongest frequency and whether it
// stands ten times above the others.
func strongest(block []float64, fs []float64) (int, bool) {
	best, bp, second := 0, 0.0, 0.0
	for i, f := range fs {
		p := goertzel(block, f)
		if p > bp {
			best, second, bp = i, bp, p
		} else if p > second {
			second = p
		}
	}
	return best, bp > 10*second
}

// Keys returns the keys heard in x: 20 ms blocks with energy, one row and
// one column tone clearly dominant; a key counts once per tone burst.
func Keys(x []float64) string {
	var out []rune
	var last rune
	const block = Rate / 50
	for i := 0; i+block <= len(x); i += block {
		b := x[i : i+block]
		var energy float64
		for _, v := range b {
			energy += v * v
		}
		key := rune(0)
		r, rok := strongest(b, rows)
		c, cok := strongest(b, cols)
		if energy > 1e6 && rok && cok {
			key = keys[r][c]
		}
		if key != 0 && key != last {
			out = append(out, key)
		}
		last = key
	}
	return string(out)
}

// Call plays an Amazon Connect contact flow (flow language 2019-10-30) as
// the caller hears it: from StartAction, every MessageParticipant's prompt
// in order until DisconnectParticipant, and returns the keys heard. prompt
// returns the WAV of a PromptId.
func Call(content string, prompt func(id string) ([]byte, error)) (string, error) {
	var f struct {
		StartAction string
		Actions     []struct {
			Identifier, Type string
			Parameters       map[string]any
			Transitions      struct{ NextAction string }
		}
	}
	if err := json.Unmarshal([]byte(content), &f); err != nil {
		return "", fmt.Errorf("flow: %w", err)
	}
	var audio []float64
	for id, steps := f.StartAction, 0; id != ""; steps++ {
		if steps > 100 {
			return "", errors.New("flow: more than 100 actions (a loop?)")
		}
		found := false
		for _, a := range f.Actions {
			if a.Identifier != id {
				continue
			}
			found = true
			switch a.Type {
			case "DisconnectParticipant":
				return Keys(audio), nil
			case "MessageParticipant":
				wav, err := prompt(fmt.Sprint(a.Parameters["PromptId"]))
				if err != nil {
					return "", err
				}
				x, err := Samples(wav)
				if err != nil {
					return "", fmt.Errorf("prompt %v: %w", a.Parameters["PromptId"], err)
				}
				audio = append(audio, x...)
			default:
				return "", fmt.Errorf("flow: action type %s is not played here", a.Type)
			}
			id = a.Transitions.NextAction
			break
		}
		if !found {
			return "", fmt.Errorf("flow: no action %q", id)
		}
	}
	return Keys(audio), nil
}
