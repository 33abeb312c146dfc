package awsconnect

import (
	"encoding/binary"
	"math"
	"testing"
	"time"
)

func TestMuLawMatchesG711(t *testing.T) {
	// Reference points of G.711 mu-law.
	for s, want := range map[int16]byte{0: 0xFF, 32767: 0x80, -32768: 0x00, 8031: 0xA0, -8031: 0x20, 100: 0xF2} {
		if got := MuLaw(s); got != want {
			t.Errorf("MuLaw(%d) = %#x, want %#x", s, got, want)
		}
	}
	// Every code decodes to a value that encodes back to it (0x7F and 0xFF
	// are both zero).
	for u := range 256 {
		if back := MuLaw(MuLawDecode(byte(u))); back != byte(u) && !(u == 0x7F && back == 0xFF) {
			t.Errorf("code %#x decodes to %d, which encodes to %#x", u, MuLawDecode(byte(u)), back)
		}
	}
	// The quantization error stays within a segment's step.
	for s := -32000; s <= 32000; s += 37 {
		if d := math.Abs(float64(MuLawDecode(MuLaw(int16(s))) - int16(s))); d > 1024 || (s > -100 && s < 100 && d > 8) {
			t.Fatalf("sample %d comes back %d", s, MuLawDecode(MuLaw(int16(s))))
		}
	}
}

// decodeWAV checks the prompt format Connect requires and returns the samples.
func decodeWAV(t testing.TB, b []byte) []float64 {
	t.Helper()
	le := binary.LittleEndian
	if string(b[:4]) != "RIFF" || string(b[8:16]) != "WAVEfmt " || int(le.Uint32(b[4:]))+8 != len(b) {
		t.Fatalf("not a RIFF WAVE file")
	}
	if format, ch, rate, bits := le.Uint16(b[20:]), le.Uint16(b[22:]), le.Uint32(b[24:]), le.Uint16(b[34:]); format != 7 || ch != 1 || rate != 8000 || bits != 8 {
		t.Fatalf("format %d, %d channels, %d Hz, %d bits; Connect wants mu-law (7), mono, 8000 Hz, 8 bits", format, ch, rate, bits)
	}
	for i := 12; i+8 <= len(b); {
		id, size := string(b[i:i+4]), int(le.Uint32(b[i+4:]))
		i += 8
		if id == "data" {
			var out []float64
			for _, u := range b[i : i+size] {
				out = append(out, float64(MuLawDecode(u)))
			}
			return out
		}
		i += size
	}
	t.Fatal("no data chunk")
	return nil
}

// goertzel is the power of frequency f in x.
func goertzel(x []float64, f float64) float64 {
	w := 2 * math.Cos(2*math.Pi*f/SampleRate)
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = v+w*s1-s2, s1
	}
	return s1*s1 + s2*s2 - w*s1*s2
}

// Detect finds the DTMF keys in samples, as a telephone receiver would:
// 20 ms blocks, one row and one column tone clearly above the others and
// above the noise floor, a key counted once per tone burst.
func Detect(x []float64) string {
	rows, cols := []float64{697, 770, 852, 941}, []float64{1209, 1336, 1477, 1633}
	keys := map[[2]float64]rune{}
	for k, f := range dtmf {
		keys[f] = k
	}
	best := func(block []float64, fs []float64) (float64, float64, float64) {
		var bf, bp, second float64
		for _, f := range fs {
			p := goertzel(block, f)
			if p > bp {
				bf, second, bp = f, bp, p
			} else if p > second {
				second = p
			}
		}
		return bf, bp, second
	}
	var out []rune
	var last rune
	const block = SampleRate / 50
	for i := 0; i+block <= len(x); i += block {
		b := x[i : i+block]
		var energy float64
		for _, v := range b {
			energy += v * v
		}
		rf, rp, r2 := best(b, rows)
		cf, cp, c2 := best(b, cols)
		key := rune(0)
		if energy > 1e6 && rp > 10*r2 && cp > 10*c2 {
			key = keys[[2]float64{rf, cf}]
		}
		if key != 0 && key != last {
			out = append(out, key)
		}
		last = key
	}
	return string(out)
}

func TestEachPromptIsItsKeysTone(t *testing.T) {
	for _, k := range "0123456789*#" {
		wav, err := Tone(k, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		x := decodeWAV(t, wav)
		if len(x) != 4000 { // 250 ms of tone + 250 ms of silence at 8 kHz
			t.Fatalf("%c: %d samples", k, len(x))
		}
		if got := Detect(x); got != string(k) {
			t.Errorf("prompt of %c is heard as %q", k, got)
		}
	}
	if _, err := Tone('x', 0, 0); err == nil {
		t.Fatal("a tone for x")
	}
	if got := Detect(decodeWAV(t, Silence(time.Second))); got != "" {
		t.Fatalf("silence is heard as %q", got)
	}
}

func TestAPINPlayedPromptAfterPromptIsHeardInOrder(t *testing.T) {
	var x []float64
	for _, k := range "4729" {
		w, _ := Tone(k, 0, 0)
		x = append(x, decodeWAV(t, w)...)
	}
	if got := Detect(x); got != "4729" {
		t.Fatalf("heard %q", got)
	}
}
