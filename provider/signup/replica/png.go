package replica

import (
	"image"
	"image/color"
	"image/png"
	"io"
)

// glyphs is a 3x5 bitmap font of the digits.
var glyphs = map[byte][5]string{
	'0': {"###", "#.#", "#.#", "#.#", "###"}, '1': {".#.", "##.", ".#.", ".#.", "###"},
	'2': {"###", "..#", "###", "#..", "###"}, '3': {"###", "..#", "###", "..#", "###"},
	'4': {"#.#", "#.#", "###", "..#", "..#"}, '5': {"###", "#..", "###", "..#", "###"},
	'6': {"###", "#..", "###", "#.#", "###"}, '7': {"###", "..#", "..#", "..#", "..#"},
	'8': {"###", "#.#", "###", "#.#", "###"}, '9': {"###", "#.#", "###", "..#", "###"},
}

// writeDigitsPNG draws digits, 8 pixels per font dot, as a PNG.
func writeDigitsPNG(w io.Writer, digits string) error {
	const dot = 8
	img := image.NewGray(image.Rect(0, 0, len(digits)*4*dot+dot, 7*dot))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for i := 0; i < len(digits); i++ {
		g := glyphs[digits[i]]
		for y, row := range g {
			for x, c := range row {
				if c != '#' {
					continue
				}
				for dy := range dot {
					for dx := range dot {
						img.SetGray(dot+(i*4+x)*dot+dx, dot+y*dot+dy, color.Gray{Y: 0})
					}
				}
			}
		}
	}
	return png.Encode(w, img)
}
