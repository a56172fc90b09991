package runtime

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"nudge/lang/check"
)

// maxBrandsListed bounds the brands a warning lists.
const maxBrandsListed = 10

// BrandWarning returns a warning when brand (a program's `brand`, or
// --brand) has no members in the database: brands are compared exactly, so
// `brand "ACME"` over data of acme decides nothing and says nothing. The
// warning names the brands that have members and the one brand probably
// meant. It returns "" when brand is "" or has members.
func (db *DB) BrandWarning(ctx context.Context, brand string) (string, error) {
	return BrandWarning(ctx, db.sql, "members", brand)
}

// BrandWarning is DB.BrandWarning over the members table named by members
// (a table name, possibly qualified such as nudge_src.members), for tools
// that read another database (simulate).
func BrandWarning(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, members, brand string) (string, error) {
	if brand == "" {
		return "", nil
	}
	rows, err := q.QueryContext(ctx, `SELECT brand, brand = $b::VARCHAR FROM (SELECT DISTINCT brand FROM `+members+`) ORDER BY brand`,
		sql.Named("b", brand))
	if err != nil {
		return "", fmt.Errorf("reading the brands of the members: %w", err)
	}
	defer rows.Close()
	var brands []string
	for rows.Next() {
		var b string
		var same bool
		if err := rows.Scan(&b, &same); err != nil {
			return "", fmt.Errorf("reading the brands of the members: %w", err)
		}
		if same {
			return "", nil
		}
		brands = append(brands, b)
	}
	if err := rows.Err(); err != nil {
		return "", fmt.Errorf("reading the brands of the members: %w", err)
	}
	if len(brands) == 0 {
		return fmt.Sprintf("brand %q has no members: the database holds no members yet (nudge import members FILE)", brand), nil
	}
	list := strings.Join(brands, ", ")
	if len(brands) > maxBrandsListed {
		list = strings.Join(brands[:maxBrandsListed], ", ") + fmt.Sprintf(", ... (%d brands)", len(brands))
	}
	msg := fmt.Sprintf("brand %q has no members in the database, which holds members of %s; brands are compared exactly", brand, list)
	if m := likelyBrand(brand, brands); m != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", m)
	}
	return msg, nil
}

// likelyBrand returns the brand of brands that brand probably means: one
// differing only in case, else a plausible typo (check.Suggest), else "".
func likelyBrand(brand string, brands []string) string {
	for _, b := range brands {
		if strings.EqualFold(b, brand) {
			return b
		}
	}
	return check.Suggest(brand, brands)
}
