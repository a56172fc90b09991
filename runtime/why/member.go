package why

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"nudge/compiler"
	nrt "nudge/runtime"
)

// UnknownMemberError is CheckMember's error: the brand the rules are
// explained for has no member of the id. Others names the brands that
// have one (a member id of another brand's program, or the wrong --db).
type UnknownMemberError struct {
	Member string
	Brand  string
	Others []string
	// FileBrand is the rules' own brand ("" when they name none and the
	// brand came from --brand or the database).
	FileBrand string
}

// Error names the member and the brand, the brands that have it, and what
// to do.
func (e *UnknownMemberError) Error() string {
	msg := fmt.Sprintf("no member %q in brand %q", e.Member, e.Brand)
	if len(e.Others) == 0 {
		return msg
	}
	word := "brand"
	if len(e.Others) > 1 {
		word = "brands"
	}
	msg += fmt.Sprintf("; %s is a member of %s %s", e.Member, word, strings.Join(e.Others, ", "))
	if e.FileBrand != "" {
		return msg + fmt.Sprintf(" (these rules are brand %q's: explain it with that brand's rules)", e.FileBrand)
	}
	return msg + fmt.Sprintf(": give --brand %s", e.Others[0])
}

// CheckMember fails with an *UnknownMemberError when the brand prog's rules
// are explained for (as Explain resolves it) has no member of id: nothing
// about such a member is worth explaining, and a mistyped id or another
// brand's member must not read as a member no rule fires for.
func CheckMember(ctx context.Context, db *nrt.DB, prog *compiler.Program, id string, opts Options) error {
	brand, err := resolveBrand(ctx, db.SQL(), prog.Brand, opts.Brand)
	if err != nil {
		return err
	}
	rows, err := db.SQL().QueryContext(ctx, `SELECT DISTINCT brand FROM members WHERE member_id = $id::VARCHAR ORDER BY brand LIMIT 11`,
		sql.Named("id", id))
	if err != nil {
		return err
	}
	defer rows.Close()
	e := &UnknownMemberError{Member: id, Brand: brand, FileBrand: prog.Brand}
	for rows.Next() {
		var b string
		if err := rows.Scan(&b); err != nil {
			return err
		}
		if b == brand {
			return nil
		}
		e.Others = append(e.Others, b)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return e
}
