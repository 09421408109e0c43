package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every end-to-end test that needs the real node is in the Makefile's
// REAL_NODE_TESTS, which -real-run sends to the real labs: one left out
// runs on a process lab, where it skips, and CI passes without it.
func TestEveryRealNodeTestIsScheduledOnTheRealLab(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	var expr string
	for _, line := range strings.Split(string(mk), "\n") {
		if v, ok := strings.CutPrefix(line, "REAL_NODE_TESTS := "); ok {
			expr = strings.ReplaceAll(v, "$$", "$")
		}
	}
	if expr == "" {
		t.Fatal("no REAL_NODE_TESTS in the Makefile")
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		t.Fatalf("REAL_NODE_TESTS: %v", err)
	}
	files, err := filepath.Glob("../*_test.go")
	if err != nil || len(files) == 0 {
		t.Fatalf("no e2e test files (%v)", err)
	}
	fset := token.NewFileSet()
	found := 0
	for _, f := range files {
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range file.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Recv != nil || !strings.HasPrefix(fn.Name.Name, "Test") || fn.Body == nil || len(fn.Body.List) == 0 {
				continue
			}
			call, ok := fn.Body.List[0].(*ast.ExprStmt)
			if !ok {
				continue
			}
			if c, ok := call.X.(*ast.CallExpr); ok {
				if id, ok := c.Fun.(*ast.Ident); ok && id.Name == "needRealNode" {
					found++
					if !re.MatchString(fn.Name.Name) {
						t.Errorf("%s (%s) needs the real node but is not in the Makefile's REAL_NODE_TESTS", fn.Name.Name, filepath.Base(f))
					}
				}
			}
		}
	}
	if found == 0 {
		t.Error("no test calls needRealNode first: the check found nothing to check")
	}
}
