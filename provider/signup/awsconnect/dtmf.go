package awsconnect

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"time"
)

// SampleRate is what Amazon Connect requires of a prompt: 8 kHz, mono,
// 8-bit mu-law WAV.
const SampleRate = 8000

// dtmf is the standard (ITU-T Q.23) low and high frequency of each key.
var dtmf = map[rune][2]float64{
	'1': {697, 1209}, '2': {697, 1336}, '3': {697, 1477}, 'A': {697, 1633},
	'4': {770, 1209}, '5': {770, 1336}, '6': {770, 1477}, 'B': {770, 1633},
	'7': {852, 1209}, '8': {852, 1336}, '9': {852, 1477}, 'C': {852, 1633},
	'*': {941, 1209}, '0': {941, 1336}, '#': {941, 1477}, 'D': {941, 1633},
}

// Frequencies returns the two frequencies of key, and false for a key that
// has none.
func Frequencies(key rune) (low, high float64, ok bool) {
	f, ok := dtmf[key]
	return f[0], f[1], ok
}

// Tone is a prompt of key's DTMF tone for toneLen followed by gap of
// silence (defaults 250 ms and 250 ms: receivers want at least 40 ms of
// each).
func Tone(key rune, toneLen, gap time.Duration) ([]byte, error) {
	f, ok := dtmf[key]
	if !ok {
		return nil, fmt.Errorf("dtmf: %q is not a telephone key", key)
	}
	if toneLen <= 0 {
		toneLen = 250 * time.Millisecond
	}
	if gap <= 0 {
		gap = 250 * time.Millisecond
	}
	n := samples(toneLen)
	pcm := make([]int16, n+samples(gap))
	for i := range n {
		t := float64(i) / SampleRate
		// Each tone at about -6 dBFS so their sum cannot clip.
		v := 0.45*math.Sin(2*math.Pi*f[0]*t) + 0.45*math.Sin(2*math.Pi*f[1]*t)
		pcm[i] = int16(v * math.MaxInt16)
	}
	return WAV(pcm), nil
}

// Silence is a prompt of d of silence.
func Silence(d time.Duration) []byte { return WAV(make([]int16, samples(d))) }

func samples(d time.Duration) int { return int(d * SampleRate / time.Second) }

// WAV encodes 16-bit samples at SampleRate as a mono mu-law WAV file
// (WAVE_FORMAT_MULAW, with the fact chunk non-PCM formats carry).
func WAV(pcm []int16) []byte {
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	data := make([]byte, len(pcm))
	for i, s := range pcm {
		data[i] = MuLaw(s)
	}
	b.WriteString("RIFF")
	w(uint32(4 + 8 + 18 + 8 + 4 + 8 + len(data)))
	b.WriteString("WAVEfmt ")
	w(uint32(18))
	w(uint16(7)) // mu-law
	w(uint16(1)) // mono
	w(uint32(SampleRate))
	w(uint32(SampleRate)) // bytes per second
	w(uint16(1))          // block align
	w(uint16(8))          // bits per sample
	w(uint16(0))          // no extension
	b.WriteString("fact")
	w(uint32(4))
	w(uint32(len(pcm)))
	b.WriteString("data")
	w(uint32(len(data)))
	b.Write(data)
	return b.Bytes()
}

// MuLaw encodes a 16-bit linear sample as G.711 mu-law: sign, 3-bit
// segment and 4-bit step of the biased magnitude, all bits inverted.
func MuLaw(s int16) byte {
	const bias, clip = 0x84, 32635
	sign := byte(0)
	v := int(s)
	if v < 0 {
		sign, v = 0x80, -v
	}
	v = min(v, clip) + bias
	seg := 0
	for m := v >> 7; m > 1; m >>= 1 {
		seg++
	}
	step := byte(v>>(seg+3)) & 0x0f
	return ^(sign | byte(seg)<<4 | step)
}

// MuLawDecode is MuLaw's inverse (up to its quantization).
func MuLawDecode(u byte) int16 {
	u = ^u
	seg, step := int(u>>4)&7, int(u&0x0f)
	v := ((step<<3)+0x84)<<seg - 0x84
	if u&0x80 != 0 {
		return int16(-v)
	}
	return int16(v)
}
