// Command digitsolver is the test's external captcha solver: it reads a WAV
// of spoken digits (espeak-ng, one word per digit, separated by silence)
// and prints the digits. It splits the audio on silence and matches each
// word's energy envelope against espeak-ng's rendering of each digit. It
// solves synthetic speech only; it stands in for a real recognizer.
package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"strings"
)

var words = []string{"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}

// pcm reads the 16-bit samples of a WAV file's data chunk.
func pcm(b []byte) ([]float64, error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return nil, fmt.Errorf("not a WAV file")
	}
	for i := 12; i+8 <= len(b); {
		id, size := string(b[i:i+4]), int(binary.LittleEndian.Uint32(b[i+4:i+8]))
		i += 8
		if id == "data" {
			if size > len(b)-i || size < 0 {
				size = len(b) - i
			}
			out := make([]float64, size/2)
			for j := range out {
				out[j] = float64(int16(binary.LittleEndian.Uint16(b[i+2*j:]))) / 32768
			}
			return out, nil
		}
		i += size + size%2
	}
	return nil, fmt.Errorf("no data chunk")
}

const frame = 220 // 10 ms at 22,050 Hz

func envelope(s []float64) []float64 {
	var e []float64
	for i := 0; i+frame <= len(s); i += frame {
		sum := 0.0
		for _, v := range s[i : i+frame] {
			sum += v * v
		}
		e = append(e, math.Sqrt(sum/frame))
	}
	return e
}

// segments splits an envelope into words at silences of 150 ms or more.
func segments(e []float64) [][]float64 {
	var out [][]float64
	start, quiet := -1, 0
	for i, v := range e {
		if v > 0.01 {
			if start < 0 {
				start = i
			}
			quiet = 0
			continue
		}
		if start >= 0 {
			quiet++
			if quiet >= 15 {
				out = append(out, e[start:i-quiet+1])
				start, quiet = -1, 0
			}
		}
	}
	if start >= 0 {
		out = append(out, e[start:])
	}
	return out
}

func distance(a, b []float64) float64 {
	n := max(len(a), len(b))
	d := 0.0
	for i := range n {
		x := a[min(i*len(a)/n, len(a)-1)]
		y := b[min(i*len(b)/n, len(b)-1)]
		d += (x - y) * (x - y)
	}
	return d/float64(n) + math.Abs(float64(len(a)-len(b)))*1e-4
}

func speak(word string) ([]float64, error) {
	out, err := exec.Command("espeak-ng", "-s", "120", "--stdout", word).Output()
	if err != nil {
		return nil, err
	}
	return pcm(out)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: digitsolver FILE.wav")
		os.Exit(2)
	}
	b, err := os.ReadFile(os.Args[1])
	if err == nil {
		var s []float64
		if s, err = pcm(b); err == nil {
			refs := make([][]float64, 10)
			for d, w := range words {
				r, rerr := speak(w)
				if rerr != nil {
					err = rerr
					break
				}
				refs[d] = segments(envelope(r))[0]
			}
			if err == nil {
				var answer strings.Builder
				for _, seg := range segments(envelope(s)) {
					best, bestD := 0, math.Inf(1)
					for d, ref := range refs {
						if dist := distance(seg, ref); dist < bestD {
							best, bestD = d, dist
						}
					}
					answer.WriteByte(byte('0' + best))
				}
				fmt.Println(answer.String())
				return
			}
		}
	}
	fmt.Fprintln(os.Stderr, "digitsolver:", err)
	os.Exit(1)
}
