package runtime

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// fmtValue formats a scanned database value for comparisons in tests.
func fmtValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "<nil>"
	case time.Time:
		return x.Format("2006-01-02 15:04:05")
	case []byte:
		return string(x)
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

func namedNow(t time.Time) any { return sql.Named("now", t) }
