package compiler

import (
	"math"
	"strconv"
	"strings"

	"nudge/lang/ast"
	"nudge/lang/check"
)

// Arithmetic never fails a tick. DuckDB computes whole numbers as BIGINT
// and decimals as DECIMAL, exactly, and raises an error (failing the whole
// statement) when a result does not fit the type it chose: BIGINT past
// 9.2e18, a DECIMAL past 38 digits or 38 digits after the point, and, for
// two decimals of at most 18 digits, past DECIMAL(18) (max(amount) *
// 123456789012345.5 overflowed at 1e15). A comparison of decimals casts both
// to one DECIMAL type, so sum(amount) > 0.000000000000001 failed for sums
// past 1e23 (DECIMAL(38,15)).
//
// So the compiler knows what each number expression's SQL holds (numType):
// exact with a scale and a bound on its magnitude, or DOUBLE. + - * stay
// exact when the bound proves the result fits, else compute in DOUBLE; a
// comparison of exact values whose common DECIMAL type could not hold one
// of them compares in DOUBLE. A DOUBLE result may be infinite or NaN
// (1e300 * 1e300, and inf - inf): the top of an arithmetic expression
// whose bound does not prove it finite reads as NULL when it is not a
// finite number, as a number field holding "inf" does.

// The bounds of the data (stdlib/schema.sql and the checker's limits).
const (
	// amountBound is the magnitude bound of events.amount, DECIMAL(18,2).
	amountBound = 1e16
	// amountScale is the scale of events.amount.
	amountScale = 2
	// countBound bounds a count of one member's events: far more events
	// than a database holds (the bound that keeps sum(amount) * 3 exact).
	countBound = 1e12
	// daysBound bounds `days since`: times nudge stores are in the years
	// 0000 to 9999.
	daysBound = 4e6
	// exactIntLimit and exactDecLimit are what an exact result may reach
	// (BIGINT; DECIMAL(38) counting the digits after the point), with a
	// margin for the rounding of the bounds, computed in float64.
	exactIntLimit = 0.99 * math.MaxInt64
	exactDecLimit = 0.99e38
	// maxScale is DuckDB's largest DECIMAL scale.
	maxScale = 38
)

// numKind says what the compiler knows of the SQL type of a number.
type numKind uint8

const (
	numOther  numKind = iota // unknown (a function's result): cast to DOUBLE for arithmetic
	numExact                 // BIGINT, INTEGER or DECIMAL of a known scale
	numDouble                // DOUBLE
)

// numType is what the compiler knows of a number expression's SQL value.
type numType struct {
	kind  numKind
	scale int     // numExact: digits after the point (0: a whole number)
	bound float64 // |value| <= bound; +Inf: unknown, or maybe not finite
}

func exactNum(scale int, bound float64) numType {
	return numType{kind: numExact, scale: scale, bound: bound}
}

func doubleNum(bound float64) numType { return numType{kind: numDouble, bound: bound} }

// finite reports whether the value is certainly a finite number (or NULL).
func (n numType) finite() bool { return n.bound <= math.MaxFloat64 }

// exactFits reports whether an exact result of the given bound and scale
// fits the type DuckDB computes it in (the operands cast as arith does).
func exactFits(bound float64, scale int) bool {
	if scale == 0 {
		return bound <= exactIntLimit
	}
	return scale <= maxScale && bound*math.Pow10(scale) < exactDecLimit
}

// boundOf keeps a bound an upper bound: 0 * +Inf (a maybe-infinite value
// times zero) is NaN at run time, so its bound is +Inf.
func boundOf(b float64) float64 {
	if math.IsNaN(b) {
		return math.Inf(1)
	}
	return b
}

// number compiles a number expression that is not itself an operand of
// arithmetic (a comparison's operand, a function's argument): as value,
// and says what its SQL holds.
func (rc *ruleCompiler) number(e ast.Expr, s *scope) (string, numType) {
	if x, ok := unparen(e).(*ast.BinaryExpr); ok && isArith(x.Op) {
		return rc.arithTop(x, s)
	}
	return rc.value(e, s), rc.leafNum(e, s)
}

// arithTop compiles the top of an arithmetic expression: a result that may
// not be a finite number reads as NULL when it is not one (list_filter
// names the value once: a CASE would copy the expression, subqueries and
// all, into the SQL twice at every level).
func (rc *ruleCompiler) arithTop(x *ast.BinaryExpr, s *scope) (string, numType) {
	sql, n := rc.arith(x, s)
	if !n.finite() {
		sql = "list_filter([" + sql + "], lambda nudge_v: isfinite(nudge_v))[1]"
	}
	return sql, n
}

// term compiles an operand of + - * /: nested arithmetic is left as it is
// (non-finite values propagate through it to the top, or become 0 as a
// divisor's, as in floating point), a whole literal is a BIGINT (DuckDB
// types 100000 an INTEGER, and INTEGER * INTEGER overflows at 2^31).
func (rc *ruleCompiler) term(e ast.Expr, s *scope) (string, numType) {
	switch x := e.(type) {
	case *ast.ParenExpr:
		sql, n := rc.term(x.X, s)
		return "(" + sql + ")", n
	case *ast.BinaryExpr:
		if isArith(x.Op) {
			return rc.arith(x, s)
		}
	case *ast.NumberLit:
		if n := rc.leafNum(x, s); n.kind == numExact && n.scale == 0 {
			return "CAST(" + strconv.FormatInt(int64(x.Value), 10) + " AS BIGINT)", n
		}
	}
	return rc.value(e, s), rc.leafNum(e, s)
}

// arith compiles + - * /, exact when the operands' bounds prove the result
// fits its exact type, else in DOUBLE.
func (rc *ruleCompiler) arith(x *ast.BinaryExpr, s *scope) (string, numType) {
	a, an := rc.term(x.X, s)
	b, bn := rc.term(x.Y, s)
	var n numType
	switch x.Op {
	case ast.Div:
		// x / 0 is NULL (DuckDB would give inf); DuckDB divides in DOUBLE.
		// A nonzero exact divisor is at least one unit of its last digit.
		least := 0.0
		if bn.kind == numExact {
			least = math.Pow10(-bn.scale)
		}
		return "(" + a + " / NULLIF(" + b + ", 0))", doubleNum(boundOf(an.bound / least))
	case ast.Mul:
		n = numType{scale: an.scale + bn.scale, bound: boundOf(an.bound * bn.bound)}
	default:
		n = numType{scale: max(an.scale, bn.scale), bound: an.bound + bn.bound}
	}
	switch {
	case an.kind == numExact && bn.kind == numExact && exactFits(n.bound, n.scale):
		n.kind = numExact
		if an.scale > 0 && bn.scale > 0 {
			// Two DECIMALs of at most 18 digits make a DECIMAL(18) in
			// DuckDB, whatever their result needs: widen them.
			a, b = decimal38(a, an.scale), decimal38(b, bn.scale)
		}
	default:
		n = doubleNum(n.bound)
		if an.kind != numDouble && bn.kind != numDouble {
			// (DuckDB computes an exact operand with a DOUBLE in DOUBLE.)
			a, b = toDouble(a, an), toDouble(b, bn)
		}
	}
	return "(" + a + " " + x.Op.String() + " " + b + ")", n
}

// comparable compiles the operands of one comparison (=, <, between, in).
// DuckDB compares exact numbers as one DECIMAL type, whose digits after
// the point are the most any operand has: when that type cannot hold an
// operand, they compare in DOUBLE.
func (rc *ruleCompiler) comparable(s *scope, es ...ast.Expr) []string {
	out := make([]string, len(es))
	for _, e := range es {
		if rc.info.Types[e] != check.Number {
			for i, e := range es {
				out[i] = rc.value(e, s)
			}
			return out
		}
	}
	ns := make([]numType, len(es))
	scale := 0
	for i, e := range es {
		out[i], ns[i] = rc.number(e, s)
		if ns[i].kind == numExact {
			scale = max(scale, ns[i].scale)
		}
	}
	if scale == 0 {
		return out // whole numbers compare as BIGINT, anything else as DOUBLE
	}
	double := false
	for _, n := range ns {
		double = double || n.kind == numOther || n.kind == numExact && !exactFits(n.bound, scale)
	}
	if double {
		for i := range out {
			out[i] = toDouble(out[i], ns[i])
		}
	}
	return out
}

// leafNum says what the SQL of a number that is not arithmetic holds.
func (rc *ruleCompiler) leafNum(e ast.Expr, s *scope) numType {
	switch x := e.(type) {
	case *ast.ParenExpr:
		return rc.leafNum(x.X, s)
	case *ast.NumberLit:
		// As numberSQL prints it: a whole number of INTEGER's range, a
		// larger one as DOUBLE, others as a DECIMAL literal.
		v := math.Abs(x.Value)
		if x.Value != math.Trunc(x.Value) {
			_, frac, _ := strings.Cut(strconv.FormatFloat(v, 'f', -1, 64), ".")
			return exactNum(len(frac), v)
		}
		if v <= math.MaxInt32 {
			return exactNum(0, v)
		}
		return doubleNum(v)
	case *ast.AggExpr:
		if x.Func == ast.Count {
			return exactNum(0, countBound)
		}
		if x.Field == nil {
			break
		}
		f := rc.fieldNum(rc.fieldOf(x.Field, rc.eventType(x.Ref)))
		switch x.Func {
		case ast.Sum:
			if f.kind == numExact {
				return exactNum(f.scale, countBound*f.bound) // DECIMAL(38)
			}
			return numType{kind: f.kind, bound: math.Inf(1)}
		case ast.Avg:
			if f.kind == numExact {
				return doubleNum(f.bound)
			}
			return numType{kind: f.kind, bound: math.Inf(1)}
		}
		return f // min, max
	case *ast.DaysSinceExpr:
		return exactNum(0, daysBound)
	case *ast.Ident:
		return rc.fieldNum(rc.fieldOf(x, s.evType))
	case *ast.MemberField:
		f := rc.info.Members[x.Field.Name]
		if r := rc.info.Refs[x.Field]; r != nil && r.Field != nil {
			f = r.Field
		}
		return rc.fieldNum(f)
	}
	return numType{kind: numOther, bound: math.Inf(1)}
}

// fieldOf returns the field id names in an event of type et, as eventField
// resolves it.
func (rc *ruleCompiler) fieldOf(id *ast.Ident, et *check.EventType) *check.Field {
	if r := rc.info.Refs[id]; r != nil && r.Kind == check.RefEventField && r.Field != nil {
		return r.Field
	}
	if et != nil {
		return et.Fields[id.Name]
	}
	return nil
}

// fieldNum says what a number field's SQL holds: a field read from JSON is
// a finite DOUBLE (columnOrJSON), amount a DECIMAL(18,2).
func (rc *ruleCompiler) fieldNum(f *check.Field) numType {
	switch {
	case f == nil || f.Type != check.Number:
	case f.Column == "":
		return doubleNum(math.MaxFloat64)
	case f.Column == "amount":
		return exactNum(amountScale, amountBound)
	}
	return numType{kind: numOther, bound: math.Inf(1)}
}

// decimal38 casts an exact operand of scale scale to DECIMAL(38, scale).
func decimal38(sql string, scale int) string {
	return "CAST(" + sql + " AS DECIMAL(38, " + strconv.Itoa(scale) + "))"
}

// toDouble casts sql to DOUBLE unless it is one.
func toDouble(sql string, n numType) string {
	if n.kind == numDouble {
		return sql
	}
	return "CAST(" + sql + " AS DOUBLE)"
}

func isArith(op ast.BinaryOp) bool {
	return op == ast.Add || op == ast.Sub || op == ast.Mul || op == ast.Div
}

// unparen strips the parentheses around e.
func unparen(e ast.Expr) ast.Expr {
	for {
		p, ok := e.(*ast.ParenExpr)
		if !ok {
			return e
		}
		e = p.X
	}
}
