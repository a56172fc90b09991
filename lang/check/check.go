package check

import (
	"fmt"
	"math"

	"nudge/lang/ast"
	"nudge/lang/diag"
)

// Check resolves names and types in files (the user's files of one program)
// and in the stdlib modules they import through env. It returns the Info of
// the program and every diagnostic found, sorted and de-duplicated; it never
// stops at the first problem and never panics on a partial tree from the
// parser. A nil env means nothing is predeclared.
//
// Like OPA's compiler, Check runs an explicit list of passes in order; each
// pass only adds to the Info and the diagnostics.
//
// Decisions the SPEC leaves open:
//   - Declarations of imported modules are visible to every file of the
//     program, as are the declarations of every file.
//   - A bare name in a condition is a segment, else an event type (then a
//     windowless trigger atom). Inside `where` and aggregates a bare name is
//     a field of the current event first, then a segment.
//   - In a trigger rule every side of an `or` must hold a trigger atom
//     ("mixed-trigger"); `and` of trigger atoms must share an event type
//     ("never-fires"): `purchased at store "A" and purchased where amount > 9`
//     is one purchase passing both tests.
//   - A date may be passed where a timestamp parameter is expected, and dates
//     and timestamps compare with each other.
//   - Durations and counts are whole numbers; `in last 0 days` is an error.
//   - Rules are ordered in strata by the tags they read and write (SPEC §5
//     Actions; strata.go); a rule reading its own tag is not ordered after
//     itself, and rules reading each other's tags in a cycle are an error.
func Check(files []*ast.File, env *Env) (*Info, diag.List) {
	if env == nil {
		env = &Env{}
	}
	c := newChecker(files, env)
	for _, p := range c.passes() {
		p.run()
	}
	return c.info, c.diags.Dedup()
}

// pass is one named step of the checker.
type pass struct {
	name string
	run  func()
}

// passes lists the checker's passes in the order they run.
func (c *checker) passes() []pass {
	return []pass{
		{"imports", c.resolveImports},
		{"brand", c.checkBrand},
		{"schema", c.declareSchema},
		{"names", c.declareNames},
		{"segments", c.checkSegments},
		{"rules", c.checkRules},
		{"journeys", c.checkJourneys},
		{"limits", c.checkLimits},
		{"strata", c.stratify},
		{"policies", c.checkPolicies},
		{"tests", c.checkTests},
	}
}

// checker holds the state of one Check call.
type checker struct {
	env   *Env
	info  *Info
	diags diag.List

	files   []*ast.File // the user's files, in order
	modules []*ast.File // imported modules, in import order
	// all is modules then files: declarations of modules come first, so a
	// user's duplicate is the one reported.
	all []*ast.File

	imported map[string]bool
	channels map[string]bool
	ruleDecl map[string]*ast.RuleDecl
	segState map[*ast.SegmentDecl]int // 0 new, 1 checking, 2 done
	segStack []*ast.SegmentDecl
	// journeyDecl and journeyScope serve journeys.go: the declared
	// journeys, and the journey whose conditions are being checked.
	journeyDecl  map[string]*ast.JourneyDecl
	journeyScope *Journey
	// sizes measures conditions with their segments inlined (limits.go):
	// the passes that inline segments skip what is larger than MaxSize,
	// which the limits pass reports, so that none of them is exponential
	// in segments that use segments twice.
	sizes *sizes
}

func newChecker(files []*ast.File, env *Env) *checker {
	// Presize the big maps: typical rule files hold about one expression
	// per 16 bytes and one resolved name per 48 bytes.
	size := 0
	for _, f := range files {
		if f != nil {
			size += f.Span.End.Offset / 16
		}
	}
	c := &checker{
		env: env,
		info: &Info{
			Events:   map[string]*EventType{},
			Members:  builtinMembers(),
			Segments: map[string]*ast.SegmentDecl{},
			Types:    make(map[ast.Expr]Type, size),
			Refs:     make(map[*ast.Ident]*Ref, size/3),
		},
		imported:    map[string]bool{},
		channels:    map[string]bool{},
		ruleDecl:    map[string]*ast.RuleDecl{},
		journeyDecl: map[string]*ast.JourneyDecl{},
		segState:    map[*ast.SegmentDecl]int{},
	}
	for _, f := range files {
		if f != nil {
			c.files = append(c.files, f)
		}
	}
	for _, ch := range env.Channels {
		c.channels[ch] = true
	}
	return c
}

// errorf and warnf add diagnostics at a node's span.
func (c *checker) errorf(n ast.Node, code, format string, args ...any) {
	c.diags.Errorf(spanOf(n), code, format, args...)
}

// hasErrorIn reports whether an error was already reported inside n's span,
// so that rule-level checks do not cascade from an unknown name.
func (c *checker) hasErrorIn(n ast.Node) bool {
	sp := spanOf(n)
	for _, d := range c.diags {
		if d.Severity == diag.Error && d.Span.File == sp.File &&
			!d.Span.Start.Before(sp.Start) && !sp.End.Before(d.Span.End) {
			return true
		}
	}
	return false
}

func (c *checker) warnf(n ast.Node, code, format string, args ...any) {
	c.diags.Warnf(spanOf(n), code, format, args...)
}

// spanOf returns n's span, or the zero span for a nil node.
func spanOf(n ast.Node) diag.Span {
	if n == nil || isNil(n) {
		return diag.Span{}
	}
	return n.Pos()
}

// isNil reports whether n is a typed nil pointer.
func isNil(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.Ident:
		return n == nil
	case *ast.StringLit:
		return n == nil
	case *ast.NumberLit:
		return n == nil
	case *ast.DurationLit:
		return n == nil
	case *ast.ClockLit:
		return n == nil
	case *ast.EventRef:
		return n == nil
	case *ast.Window:
		return n == nil
	case *ast.Quantifier:
		return n == nil
	}
	return false
}

// name returns an identifier's name, "" for nil.
func name(id *ast.Ident) string {
	if id == nil {
		return ""
	}
	return id.Name
}

// where describes a declaration's place for "first declared at" messages:
// "line 3" in the same file, "other.nudge:3" in another one.
func where(first, second diag.Span) string {
	if first.File == second.File {
		return fmt.Sprintf("line %d", first.Start.Line)
	}
	return fmt.Sprintf("%s:%d", first.File, first.Start.Line)
}

// isInt reports whether a number literal is a whole number.
func isInt(n *ast.NumberLit) bool {
	return n != nil && n.Value == math.Trunc(n.Value) && !math.IsInf(n.Value, 0) && !math.IsNaN(n.Value)
}

// resolveImports loads the modules the files import (transitively) through
// env.Import, reporting unknown ones with a suggestion.
func (c *checker) resolveImports() {
	for _, f := range c.files {
		c.importsOf(f)
	}
	c.all = append(append([]*ast.File(nil), c.modules...), c.files...)
}

func (c *checker) importsOf(f *ast.File) {
	for _, d := range f.Decls {
		imp, ok := d.(*ast.ImportDecl)
		if !ok || imp.Path == nil {
			continue
		}
		path := imp.Path.Value
		if c.imported[path] {
			continue
		}
		var mod *ast.File
		found := false
		if c.env.Import != nil {
			mod, found = c.env.Import(path)
		}
		if !found || mod == nil {
			c.errorf(imp.Path, CodeUnknownModule, "unknown module %q%s", path, didYouMean(path, c.env.Modules))
			continue
		}
		c.imported[path] = true
		c.importsOf(mod) // a module's own imports come first
		c.modules = append(c.modules, mod)
	}
}

// checkBrand checks that at most one brand is declared per file and that all
// files agree.
func (c *checker) checkBrand() {
	var first *ast.BrandDecl
	for _, f := range c.files {
		var inFile *ast.BrandDecl
		for _, d := range f.Decls {
			b, ok := d.(*ast.BrandDecl)
			if !ok || b.Name == nil {
				continue
			}
			if b.Name.Value == "" {
				c.errorf(b.Name, CodeBadBrand, "brand name must not be empty")
				continue
			}
			switch {
			case inFile != nil:
				c.errorf(b, CodeDuplicateBrand, "brand declared twice in this file; first declared at line %d", inFile.Span.Start.Line)
			case first != nil && first.Name.Value != b.Name.Value:
				c.errorf(b.Name, CodeConflictingBrand, "brand %q conflicts with brand %q declared at %s; one program is for one brand",
					b.Name.Value, first.Name.Value, where(first.Span.Span, b.Span.Span))
			}
			if inFile == nil {
				inFile = b
			}
			if first == nil {
				first = b
				c.info.Brand = b.Name.Value
			}
		}
	}
	for _, f := range c.modules {
		for _, d := range f.Decls {
			if b, ok := d.(*ast.BrandDecl); ok {
				c.errorf(b, CodeModuleBrand, "a module may not declare a brand")
			}
		}
	}
}

// declareSchema records event types and member fields.
func (c *checker) declareSchema() {
	memberDecl := map[string]diag.Span{}
	for _, f := range c.all {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.EventDecl:
				c.declareEvent(d)
			case *ast.MemberDecl:
				for _, fd := range d.Fields {
					if fd == nil || fd.Name == nil {
						continue
					}
					t := c.fieldType(fd)
					n := fd.Name.Name
					if old, ok := c.info.Members[n]; ok {
						if old.Column != "" {
							c.errorf(fd.Name, CodeDuplicateField, "member field %q is a built-in column of members; it cannot be redeclared", n)
						} else {
							c.errorf(fd.Name, CodeDuplicateField, "member field %q already declared at %s", n, where(memberDecl[n], fd.Name.Span.Span))
						}
						continue
					}
					memberDecl[n] = fd.Name.Span.Span
					c.info.Members[n] = &Field{Name: n, Type: t, Decl: fd.Span.Span}
				}
			}
		}
	}
}

func (c *checker) declareEvent(d *ast.EventDecl) {
	if d.Name == nil {
		return
	}
	n := d.Name.Name
	if old, ok := c.info.Events[n]; ok {
		c.errorf(d.Name, CodeDuplicateEvent, "event type %q already declared at %s", n, where(old.Decl, d.Name.Span.Span))
		return
	}
	et := newEventType(n)
	et.Decl = d.Name.Span.Span
	for _, fd := range d.Fields {
		if fd == nil || fd.Name == nil {
			continue
		}
		t := c.fieldType(fd)
		fn := fd.Name.Name
		if old, ok := et.Fields[fn]; ok {
			if old.Column != "" {
				c.errorf(fd.Name, CodeDuplicateField, "field %q is a built-in event column; it cannot be redeclared", fn)
			} else {
				c.errorf(fd.Name, CodeDuplicateField, "field %q declared twice in event %q; first at %s", fn, n, where(old.Decl, fd.Name.Span.Span))
			}
			continue
		}
		et.Fields[fn] = &Field{Name: fn, Type: t, Decl: fd.Name.Span.Span}
	}
	c.info.Events[n] = et
}

// fieldType resolves the type name of a field declaration.
func (c *checker) fieldType(fd *ast.FieldDecl) Type {
	if fd.Type == nil {
		return Invalid
	}
	t, ok := ParseType(fd.Type.Name)
	if !ok {
		hint := didYouMean(fd.Type.Name, typeNames)
		if alias, ok := typeAliases[fd.Type.Name]; ok {
			hint = "; did you mean \"" + alias + "\"?"
		}
		c.errorf(fd.Type, CodeUnknownType, "unknown type %q%s (types are text, number, bool, date, timestamp)", fd.Type.Name, hint)
	}
	return t
}

// declareNames records segments and rules, reporting duplicates and clashes
// between segment and event type names.
func (c *checker) declareNames() {
	for _, f := range c.all {
		module := c.isModule(f)
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.SegmentDecl:
				if d.Name == nil {
					continue
				}
				n := d.Name.Name
				if old, ok := c.info.Segments[n]; ok {
					c.errorf(d.Name, CodeDuplicateSegment, "segment %q already declared at %s", n, where(old.Name.Span.Span, d.Name.Span.Span))
					continue
				}
				if et, ok := c.info.Events[n]; ok {
					c.errorf(d.Name, CodeNameConflict, "segment %q has the name of an event type (declared at %s); rename the segment", n, where(et.Decl, d.Name.Span.Span))
					continue
				}
				c.info.Segments[n] = d
			case *ast.RuleDecl:
				if module {
					c.errorf(d, CodeModuleRule, "a module may not declare rules")
					continue
				}
				if d.Name == nil {
					continue
				}
				n := d.Name.Name
				if old, ok := c.ruleDecl[n]; ok {
					c.errorf(d.Name, CodeDuplicateRule, "rule %q already declared at %s", n, where(old.Name.Span.Span, d.Name.Span.Span))
					continue
				}
				if c.ruleNameTaken(d) {
					continue
				}
				c.ruleDecl[n] = d
			case *ast.JourneyDecl:
				c.declareJourney(d, module)
			}
		}
	}
}

// isModule reports whether f is an imported module rather than a user file.
func (c *checker) isModule(f *ast.File) bool {
	for _, m := range c.modules {
		if m == f {
			return true
		}
	}
	return false
}

// checkSegments type-checks every segment (modules first).
func (c *checker) checkSegments() {
	for _, f := range c.all {
		for _, d := range f.Decls {
			if s, ok := d.(*ast.SegmentDecl); ok && s.Name != nil && c.info.Segments[s.Name.Name] == s {
				c.checkSegment(s)
			}
		}
	}
	// Trigger analysis of segments on their own, so that problems in unused
	// segments are reported too.
	for _, f := range c.all {
		for _, d := range f.Decls {
			if s, ok := d.(*ast.SegmentDecl); ok && s.Name != nil && c.info.Segments[s.Name.Name] == s && s.Cond != nil && !c.oversize(s.Cond) {
				t := &trigWalk{c: c, inlining: map[*ast.SegmentDecl]bool{s: true}}
				t.cond(s.Cond, false)
			}
		}
	}
}

// checkSegment checks one segment's condition once, detecting cycles through
// the stack of segments being checked.
func (c *checker) checkSegment(s *ast.SegmentDecl) {
	if c.segState[s] != 0 {
		return
	}
	c.segState[s] = 1
	c.segStack = append(c.segStack, s)
	if s.Cond != nil {
		c.cond(s.Cond, nil)
	}
	c.segStack = c.segStack[:len(c.segStack)-1]
	c.segState[s] = 2
}
