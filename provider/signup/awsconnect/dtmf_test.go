package awsconnect

import (
	"math"
	"testing"
	"time"

	"github.com/ovmdev/ovm/internal/dtmftest"
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

// decodeWAV decodes a prompt with the independent decoder of dtmftest.
func decodeWAV(t testing.TB, b []byte) []float64 {
	t.Helper()
	x, err := dtmftest.Samples(b)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// Detect hears the keys, as the far end of the call would.
func Detect(x []float64) string { return dtmftest.Keys(x) }

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
