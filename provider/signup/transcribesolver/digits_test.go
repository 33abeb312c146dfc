package transcribesolver

import "testing"

func TestDigitsFromWhatTranscribeWrites(t *testing.T) {
	cases := map[string]string{
		"four seven two nine.":              "4729",
		"For 7 to nine":                     "4729",
		"Oh, one, ate, tree.":               "0183",
		"4,729":                             "4729",
		"seventy two eighty":                "7280",
		"seventy for":                       "704", // "for" after a ten is a digit of its own
		"double five six":                   "556",
		"triple oh":                         "000",
		"the numbers are: 1 2 3, thank you": "123",
		"twelve nineteen":                   "1219",
		"":                                  "",
		"hello there":                       "",
	}
	for in, want := range cases {
		if got := Digits(in); got != want {
			t.Errorf("Digits(%q) = %q, want %q", in, got, want)
		}
	}
}
