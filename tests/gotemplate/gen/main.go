// Command gen records what Go's text/template, with the Vault SDK's template functions, answers
// for a few thousand username templates: the output or the error text of each. The Rust engine
// (src/gotemplate) replays every case in its corpus_tests unit test and must answer the same.
//
// Regenerate (Go 1.26 or newer, standard library only, no network):
//
//	cd tests/gotemplate/gen && go run . > ../corpus.jsonl
//
// The output is deterministic: templates come from a seeded generator, every case pins the
// clock ("now", Unix nanoseconds, UTC) and the random bytes ("seed" of a splitmix64 stream that
// the Rust test reproduces byte for byte).
//
// The SDK functions are re-implemented here from their documented behaviour (OpenBao's
// sdk/helper/template, go-secure-stdlib base62, go-uuid, go-glob) so that they can read the
// pinned clock and random stream; everything else is Go's own text/template and fmt.
//
// Known differences of the Rust engine (documented in src/gotemplate/mod.rs) are kept out of
// the corpus or normalised, each marked "Known difference" below.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"gotemplategen/aws"
)

// record is one line of corpus.jsonl.
type record struct {
	Tpl     string  `json:"tpl"`
	Type    string  `json:"type"`
	Display string  `json:"display"`
	Policy  string  `json:"policy"`
	Now     int64   `json:"now"`
	Seed    uint64  `json:"seed"`
	Out     *string `json:"out,omitempty"`
	Err     *string `json:"err,omitempty"`
}

// splitmix64 is the pinned random source: bytes of successive splitmix64 outputs, little
// endian. The Rust test's Effects implementation produces the same bytes from the same seed.
type splitmix64 struct {
	state uint64
	buf   [8]byte
	left  int
}

func (s *splitmix64) Read(p []byte) (int, error) {
	for i := range p {
		if s.left == 0 {
			s.state += 0x9E3779B97F4A7C15
			z := s.state
			z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
			z = (z ^ (z >> 27)) * 0x94D049BB133111EB
			z ^= z >> 31
			binary.LittleEndian.PutUint64(s.buf[:], z)
			s.left = 8
		}
		p[i] = s.buf[8-s.left]
		s.left--
	}
	return len(p), nil
}

// errTooLarge marks a case outside the Rust engine's value limit; run skips it.
var errTooLarge = errors.New("value over the Rust engine's limit")

const base62Chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// sdkFuncs are the SDK's template functions with the same signatures (argument typing and
// error texts depend on them), reading the pinned clock and random stream.
func sdkFuncs(now time.Time, rnd io.Reader) template.FuncMap {
	return template.FuncMap{
		// go-secure-stdlib base62.Random: batches of length*5/4 random bytes, a byte below
		// 4*62 picks charset[b%62], others are skipped. A negative length panics in make, and
		// text/template reports the panic as the call's error, as in Vault.
		"random": func(length int) (string, error) {
			if length == 0 {
				return "", nil
			}
			if length > 1<<20 {
				// Known difference: the Rust engine refuses values over 1 MiB.
				panic(errTooLarge)
			}
			out := make([]byte, 0, length)
			for {
				batch := make([]byte, length+length/4)
				if _, err := io.ReadFull(rnd, batch); err != nil {
					return "", err
				}
				for _, b := range batch {
					if b < 62*4 {
						out = append(out, base62Chars[b%62])
						if len(out) == length {
							return string(out), nil
						}
					}
				}
			}
		},
		"truncate": func(maxLen int, s string) (string, error) {
			if maxLen <= 0 {
				return "", fmt.Errorf("max length must be > 0 but was %d", maxLen)
			}
			return s[:min(len(s), maxLen)], nil
		},
		"truncate_sha256": func(maxLen int, s string) (string, error) {
			if maxLen <= 8 {
				return "", fmt.Errorf("max length must be > 8 but was %d", maxLen)
			}
			if len(s) <= maxLen {
				return s, nil
			}
			cut := maxLen - 8
			return s[:cut] + sha256Hex(s[cut:])[:8], nil
		},
		"uppercase": func(s string) string { return strings.ToUpper(s) },
		"lowercase": func(s string) string { return strings.ToLower(s) },
		"replace": func(find, with, s string) string {
			return strings.ReplaceAll(s, find, with)
		},
		"sha256": sha256Hex,
		"base64": func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) },
		"decode_base64": func(s string) (string, error) {
			b, err := base64.StdEncoding.DecodeString(s)
			return string(b), err
		},
		"hex": func(s string) string { return hex.EncodeToString([]byte(s)) },
		"decode_hex": func(s string) (string, error) {
			b, err := hex.DecodeString(s)
			return string(b), err
		},
		"unix_time": func() string { return strconv.FormatInt(now.Unix(), 10) },
		"unix_time_millis": func() string {
			return strconv.FormatInt(now.UnixNano()/int64(time.Millisecond), 10)
		},
		// Known difference: Vault formats in the server's local zone; the Rust engine in
		// UTC. The pinned clock is in UTC, which is also the usual server zone.
		"timestamp": func(layout string) string { return now.Format(layout) },
		"uuid": func() (string, error) {
			b := make([]byte, 16)
			if _, err := io.ReadFull(rnd, b); err != nil {
				return "", err
			}
			// Known difference, normalised here: go-uuid leaves all 128 bits random, the
			// Rust engine sets the version-4 and variant bits.
			b[6] = b[6]&0x0f | 0x40
			b[8] = b[8]&0x3f | 0x80
			return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
		},
		"glob": globMatch,
	}
}

func sha256Hex(s string) string { return fmt.Sprintf("%x", sha256.Sum256([]byte(s))) }

// globMatch is go-glob's Glob: split the pattern at '*', anchor the first and last part
// unless the pattern starts or ends with '*', and consume the subject part by part. Like the
// original it slices past the end of an exhausted subject (a panic the template reports).
func globMatch(pattern, subject string) bool {
	if pattern == "" {
		return subject == ""
	}
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return subject == pattern
	}
	leading := strings.HasPrefix(pattern, "*")
	trailing := strings.HasSuffix(pattern, "*")
	last := len(parts) - 1
	for i, part := range parts {
		switch {
		case i == 0:
			if leading {
				continue
			}
			if !strings.HasPrefix(subject, part) {
				return false
			}
		case i == last:
			if subject != "" {
				return trailing || strings.HasSuffix(subject, part)
			}
		default:
			if !strings.Contains(subject, part) {
				return false
			}
		}
		subject = subject[strings.Index(subject, part)+len(part):]
	}
	return true
}

// run executes one case as the SDK's StringTemplate does (NewTemplate, then Generate). It
// reports false where Go itself panics (`{{ .Type | call }}` indexes an empty argument list
// in Go 1.23), which would crash a Go plugin: no behaviour to compare with.
func run(c *record) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	out, err := execute(c)
	if err != nil && strings.Contains(err.Error(), errTooLarge.Error()) {
		return false
	}
	if err != nil {
		s := lossy(err.Error())
		c.Err = &s
		return true
	}
	s := lossy(out)
	c.Out = &s
	return true
}

func execute(c *record) (string, error) {
	if c.Tpl == "" {
		return "", errors.New("missing template")
	}
	now := time.Unix(0, c.Now).UTC()
	funcs := sdkFuncs(now, &splitmix64{state: c.Seed})
	tmpl, err := template.New("template").Funcs(funcs).Parse(c.Tpl)
	if err != nil {
		return "", fmt.Errorf("unable to parse template: %w", err)
	}
	var b strings.Builder
	data := aws.UsernameMetadata{Type: c.Type, DisplayName: c.Display, PolicyName: c.Policy}
	if err := tmpl.Execute(&b, data); err != nil {
		return "", fmt.Errorf("unable to apply template: %w", err)
	}
	return b.String(), nil
}

// lossy is Go's string([]rune(s)). Known difference, normalised here: Go passes bytes that
// are not UTF-8 on as they are, the Rust engine (whose strings are UTF-8) gives one U+FFFD
// per such byte.
func lossy(s string) string { return string([]rune(s)) }

// Known differences kept out of the corpus: range/define/template/block (unsupported),
// complex constants (refused), and outputs near the Rust engine's 1 MiB value limit.
var unsupported = regexp.MustCompile(`\b(range|define|template|block)\b|[0-9_.]i`)

func main() {
	n := flag.Int("n", 3000, "number of random templates; a half as many targeted cases follow")
	seed := flag.Int64("seed", 1, "seed of the template generator")
	flag.Parse()
	g := &gen{r: rand.New(rand.NewSource(*seed))}
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	seen := map[string]bool{}
	emit := func(tpl string) {
		if unsupported.MatchString(tpl) {
			return
		}
		c := g.newCase(tpl)
		key := fmt.Sprintf("%q|%s|%s|%s", c.Tpl, c.Type, c.Display, c.Policy)
		if seen[key] {
			return
		}
		seen[key] = true
		if os.Getenv("GEN_DEBUG") != "" {
			fmt.Fprintf(os.Stderr, "%q\n", c.Tpl)
		}
		if !run(&c) {
			return
		}
		if c.Out != nil && len(*c.Out) > 1<<16 {
			return
		}
		if err := enc.Encode(c); err != nil {
			panic(err)
		}
	}
	for _, tpl := range fixedCases() {
		emit(tpl)
	}
	for i := 0; i < *n; i++ {
		emit(g.template())
	}
	for i := 0; i < *n/8; i++ {
		emit(g.printfCase())
		emit(g.escapeCase())
		emit(g.layoutCase())
		emit("{{ " + g.numberLit() + " }}|{{ printf \"%v %g %e %x %.3f %T\" " + strings.Repeat(g.numberLit()+" ", 6) + "}}")
	}
}
