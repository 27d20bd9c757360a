package pipeline

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// yamlParserProblems are the messages of yaml.v3's parser (parserc.go), as
// opposed to its scanner's. yaml.v3 prints the parser's 0-based line
// without adding one (it adds one only for scanner errors), so a parser
// error's line is one short.
var yamlParserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// yamlProblem turns a yaml.v3 syntax error into a problem at its 1-based
// line. yaml.v3 loses the column; a line past the end of the file (the
// parser met the end of the stream) is reported where the file ends.
func yamlProblem(file string, raw []byte, err error) Problem {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	p := Problem{File: file, Line: 1, Col: 1}
	var line int
	if _, e := fmt.Sscanf(msg, "line %d:", &line); e == nil {
		msg = strings.TrimSpace(msg[strings.Index(msg, ":")+1:])
		if isParserProblem(msg) {
			line++
		}
		p.Line = line
	}
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	if p.Line > len(lines) {
		last := lines[len(lines)-1]
		p.Line, p.Col = len(lines), utf8.RuneCountInString(last)+1
	}
	p.Msg = "invalid YAML: " + msg
	return p
}

func isParserProblem(msg string) bool {
	for _, m := range yamlParserProblems {
		if msg == m {
			return true
		}
	}
	return false
}
