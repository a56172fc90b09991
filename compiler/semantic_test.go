package compiler

import (
	"context"
	"reflect"
	"testing"
)

// semCase is one hand-checked scenario: a rule condition over a tiny dataset
// and the firings it must produce.
type semCase struct {
	name    string
	prelude string // declarations before the rule (segments, event/member decls)
	cond    string // the rule's condition
	members []string
	events  []string
	tags    []string // "brand member tag"
	now     string
	wm      *watermark // nil: nothing seen yet
	want    []string   // "member" (state) or "member#seq@due" (trigger)
}

// sameFirings compares two sorted firing lists, nil equal to empty.
func sameFirings(a, b []string) bool {
	return len(a) == 0 && len(b) == 0 || reflect.DeepEqual(a, b)
}

// defaultMembers: three members of acme and one of another brand.
var defaultMembers = []string{"m1", "m2", "m3", "x1 brand=other"}

func TestSemantics(t *testing.T) {
	const now = "2024-06-10T12:00"
	cases := []semCase{
		// ---- arithmetic ----
		{
			// Integers past INTEGER's range are DOUBLE: no BIGINT overflow
			// fails the tick (the product is 1e20 from one purchase on).
			name:   "large integer literals do not overflow",
			cond:   "count(purchased ever) * 999999999999999 * 99999 > 1",
			events: []string{"1 m1 purchased 2024-06-01T12:00", "2 m2 visited 2024-06-01T12:00"},
			now:    now, want: []string{"m1"},
		},
		{
			name:   "large integer literals do not overflow, squared",
			cond:   "count(purchased ever) * 999999999999999 * 999999999999999 >= 999999999999999",
			events: []string{"1 m1 purchased 2024-06-01T12:00", "2 m2 visited 2024-06-01T12:00"},
			now:    now, want: []string{"m1"},
		},
		{
			// Integer literals multiply as BIGINT, a decimal times an
			// integer as a wide DECIMAL: 100000 * 100000 overflowed
			// INTEGER, max(amount) * 1000000000 * 1000000000 DECIMAL(18).
			name:   "products of literals and of a decimal do not overflow",
			cond:   "count(purchased ever) > 100000 * 100000 or max(purchased.amount ever) * 1000000000 * 1000000000 > 5 * 1000000000 * 1000000000",
			events: []string{"1 m1 purchased 2024-06-01T12:00 amount=6", "2 m2 purchased 2024-06-01T12:00 amount=4"},
			now:    now, want: []string{"m1"},
		},
		{
			// Past BIGINT: count * 2000000000 * 2000000000 * 2000000000 failed
			// the tick with "Overflow in multiplication of INT64"; the compiler
			// bounds the product and computes it in DOUBLE.
			name:   "integer products past BIGINT compute in floating point",
			cond:   "count(purchased ever) * 2000000000 * 2000000000 * 2000000000 > 1",
			events: []string{"1 m1 purchased 2024-06-01T12:00", "2 m2 visited 2024-06-01T12:00"},
			now:    now, want: []string{"m1"},
		},
		{
			// DuckDB makes DECIMAL(18) of two DECIMALs of at most 18 digits
			// (6000 * 123456789012345.5 overflowed it, 6000 +
			// 0.000000000000001 overflowed DECIMAL(18,15)) and fails past
			// 38 digits (the product of three 15-digit decimals).
			name: "decimal arithmetic past DuckDB's DECIMAL types computes in floating point",
			cond: "max(purchased.amount ever) * 123456789012345.5 * 123456789012345.5 * 123456789012345.5 > 1" +
				" and max(purchased.amount ever) * 123456789012345.5 > 999999999999999" +
				" and max(purchased.amount ever) + 0.000000000000001 > 99",
			events: []string{"1 m1 purchased 2024-06-01T12:00 amount=6000", "2 m2 purchased 2024-06-01T12:00 amount=6"},
			now:    now, want: []string{"m1"},
		},
		{
			// DuckDB compares two DECIMALs as one type, here DECIMAL(38,15),
			// which cannot hold 1e33: they compare in DOUBLE.
			name:   "comparing a large decimal with a fine one does not overflow",
			cond:   "max(purchased.amount ever) * 1000000000 * 1000000000 > 0.000000000000001",
			events: []string{"1 m1 purchased 2024-06-01T12:00 amount=1000000000000000", "2 m2 purchased 2024-06-01T12:00 amount=0"},
			now:    now, want: []string{"m1"},
		},
		{
			// 1e300 * 999999999999999 * 999999999999999 is past DOUBLE:
			// no number (NULL), as a field holding "inf" is, so neither
			// comparison holds.
			name:    "an arithmetic result past floating point's range is no number",
			prelude: "member {\n  score number\n}",
			cond:    "member.score * 999999999999999 * 999999999999999 > 1 or member.score * 999999999999999 * 999999999999999 <= 1",
			members: []string{`m1 attrs={"score":1e300}`, `m2 attrs={"score":2}`, `m3 attrs={"score":-1}`},
			now:     now, want: []string{"m2", "m3"},
		},
		// ---- windows ----
		{
			name: "in last: lower bound exclusive, upper inclusive, future excluded",
			cond: "purchased in last 7 days",
			events: []string{
				"1 m1 purchased 2024-06-03T12:00", // exactly now - 7 days: out
				"2 m2 purchased 2024-06-03T12:01", // in
				"3 m3 purchased 2024-06-10T12:01", // after now: out
			},
			now: now, want: []string{"m2"},
		},
		{
			name:    "in last on the correlated path (filter reads the member)",
			cond:    "purchased where store = member.city in last 7 days",
			members: []string{"m1 city=A", "m2 city=A", "m3 city=A"},
			events: []string{
				"1 m1 purchased 2024-06-03T12:00 store=A", // exactly now - 7 days: out
				"2 m2 purchased 2024-06-03T12:01 store=A", // in
				"3 m3 purchased 2024-06-10T12:01 store=A", // after now: out
			},
			now: now, want: []string{"m2"},
		},
		{
			name:   "in last: event at now is in",
			cond:   "purchased in last 1 hour",
			events: []string{"1 m1 purchased 2024-06-10T12:00", "2 m2 purchased 2024-06-10T11:00"},
			now:    now, want: []string{"m1"},
		},
		{
			name:   "in last months is a calendar interval (Mar 31 - 1 month = Feb 29)",
			cond:   "purchased in last 1 month",
			events: []string{"1 m1 purchased 2024-02-29T12:00", "2 m2 purchased 2024-02-29T12:01", "3 m3 purchased 2024-03-01T00:00"},
			now:    "2024-03-31T12:00", want: []string{"m2", "m3"},
		},
		{
			name:   "in last weeks are 7-day weeks",
			cond:   "purchased in last 2 weeks",
			events: []string{"1 m1 purchased 2024-05-27T12:00", "2 m2 purchased 2024-05-27T12:01"},
			now:    now, want: []string{"m2"},
		},
		{
			name:   "ever: everything up to now",
			cond:   "purchased ever",
			events: []string{"1 m1 purchased 2001-01-01", "2 m2 purchased 2024-06-10T12:00", "3 m3 purchased 2024-06-10T12:00:01"},
			now:    now, want: []string{"m1", "m2"},
		},
		{
			name:   "not ever targets never-buyers",
			cond:   "not purchased ever",
			events: []string{"1 m1 purchased 2001-01-01", "2 m3 visited 2024-06-01"},
			now:    now, want: []string{"m2", "m3"},
		},
		// ---- quantifiers ----
		{
			name: "at least 2 times",
			cond: "purchased at least 2 times in last 30 days",
			events: []string{
				"1 m1 purchased 2024-06-01", "2 m1 purchased 2024-06-02",
				"3 m2 purchased 2024-06-01", "4 m2 purchased 2024-01-01",
				"5 m3 purchased 2024-06-01", "6 m3 purchased 2024-06-02", "7 m3 purchased 2024-06-03",
			},
			now: now, want: []string{"m1", "m3"},
		},
		{
			name: "at most 1 times includes members with none",
			cond: "purchased at most 1 times in last 30 days",
			events: []string{
				"1 m1 purchased 2024-06-01", "2 m1 purchased 2024-06-02",
				"3 m2 purchased 2024-06-01",
			},
			now: now, want: []string{"m2", "m3"},
		},
		{
			name: "exactly 2 times, quantifier without window means ever",
			cond: "purchased exactly 2 times",
			events: []string{
				"1 m1 purchased 2024-06-01", "2 m1 purchased 2020-06-02",
				"3 m2 purchased 2024-06-01", "4 m3 purchased 2024-06-01", "5 m3 purchased 2024-06-02", "6 m3 purchased 2024-06-03",
				"7 m2 purchased 2024-07-01", // future: not counted
			},
			now: now, want: []string{"m1"},
		},
		// ---- days since ----
		{
			name: "days since last: floor of 24-hour days",
			cond: "days since last purchased = 8",
			events: []string{
				"1 m1 purchased 2024-06-01T12:00:01", // 8.99 days
				"2 m2 purchased 2024-06-01T12:00",    // exactly 9 days
				"3 m3 purchased 2024-06-02T11:59",    // 8.0007 days
				"4 m3 purchased 2024-05-01",
			},
			now: now, want: []string{"m1", "m3"},
		},
		{
			name:   "days since first uses the earliest event",
			cond:   "days since first purchased >= 30",
			events: []string{"1 m1 purchased 2024-05-11T12:00", "2 m1 purchased 2024-06-09", "3 m2 purchased 2024-05-11T12:01"},
			now:    now, want: []string{"m1"},
		},
		{
			name:   "days since with no event is NULL: the comparison is false",
			cond:   "days since last purchased > 90",
			events: []string{"1 m1 purchased 2024-01-01", "2 m2 purchased 2024-06-01"},
			now:    now, want: []string{"m1"},
		},
		{
			name:   "not of a NULL comparison is true",
			cond:   "not (days since last purchased > 90)",
			events: []string{"1 m1 purchased 2024-01-01", "2 m2 purchased 2024-06-01"},
			now:    now, want: []string{"m2", "m3"},
		},
		{
			name:   "days since ignores future events and applies filters",
			cond:   `days since last purchased of sku "TB" between 0 and 10`,
			events: []string{"1 m1 purchased 2024-06-11 sku=TB", "2 m2 purchased 2024-06-05 sku=TB", "3 m3 purchased 2024-06-05 sku=X"},
			now:    now, want: []string{"m2"},
		},
		// ---- aggregates ----
		{
			name:   "count of nothing is 0",
			cond:   "count(purchased ever) = 0",
			events: []string{"1 m1 purchased 2024-01-01"},
			now:    now, want: []string{"m2", "m3"},
		},
		{
			name:   "sum of nothing is NULL, not 0",
			cond:   "sum(purchased.amount ever) is null",
			events: []string{"1 m1 purchased 2024-01-01 amount=0"},
			now:    now, want: []string{"m2", "m3"},
		},
		{
			name:   "sum of nothing compared to 0 is false",
			cond:   "sum(purchased.amount ever) = 0",
			events: []string{"1 m1 purchased 2024-01-01 amount=0"},
			now:    now, want: []string{"m1"},
		},
		{
			name: "sum, avg, min, max over a window",
			cond: "sum(purchased.amount in last 30 days) >= 100 and avg(purchased.amount in last 30 days) < 61 and min(purchased.amount ever) = 5 and max(purchased.amount ever) = 70",
			events: []string{
				"1 m1 purchased 2024-06-01 amount=50", "2 m1 purchased 2024-06-02 amount=70", "3 m1 purchased 2020-01-01 amount=5",
				"4 m2 purchased 2024-06-01 amount=50", "5 m2 purchased 2024-06-02 amount=70",
			},
			now: now, want: []string{"m1"},
		},
		{
			name:   "between is inclusive",
			cond:   "count(purchased ever) between 2 and 3",
			events: []string{"1 m1 purchased 2024-06-01", "2 m1 purchased 2024-06-02", "3 m2 purchased 2024-06-01", "4 m2 purchased 2024-06-01", "5 m2 purchased 2024-06-01", "6 m3 purchased 2024-06-01"},
			now:    now, want: []string{"m1", "m2"},
		},
		{
			name:   "division by zero is NULL",
			cond:   "sum(purchased.amount ever) / count(visited ever) > 1",
			events: []string{"1 m1 purchased 2024-06-01 amount=5", "2 m2 purchased 2024-06-01 amount=5", "3 m2 visited 2024-06-01"},
			now:    now, want: []string{"m2"},
		},
		// ---- filters, props, member fields ----
		{
			name:   "prep filters are equality on built-in columns",
			cond:   `purchased at store "A" of sku "X" ever`,
			events: []string{"1 m1 purchased 2024-06-01 store=A sku=X", "2 m2 purchased 2024-06-01 store=A sku=Y", "3 m3 purchased 2024-06-01 store=B sku=X"},
			now:    now, want: []string{"m1"},
		},
		{
			name:   "where reads typed props fields",
			cond:   `purchased where payment = "alipay" and quantity >= 2 ever`,
			events: []string{`1 m1 purchased 2024-06-01 props={"payment":"alipay","quantity":3}`, `2 m2 purchased 2024-06-01 props={"payment":"alipay","quantity":1}`, `3 m3 purchased 2024-06-01 props={"payment":"card","quantity":5}`},
			now:    now, want: []string{"m1"},
		},
		{
			name:   "malformed props values read as NULL",
			cond:   `purchased where quantity >= 0 ever`,
			events: []string{`1 m1 purchased 2024-06-01 props={"quantity":"lots"}`, `2 m2 purchased 2024-06-01 props={"quantity":0}`, `3 m3 purchased 2024-06-01`},
			now:    now, want: []string{"m2"},
		},
		{
			name:    "Chinese event type and field names",
			prelude: "event 点餐 {\n  数量 number\n  菜品 text\n}",
			cond:    `点餐 where 数量 >= 2 and 菜品 = "剁椒鱼头" in last 7 days`,
			events:  []string{`1 m1 点餐 2024-06-09 props={"数量":2,"菜品":"剁椒鱼头"}`, `2 m2 点餐 2024-06-09 props={"数量":1,"菜品":"剁椒鱼头"}`, `3 m3 点餐 2024-05-01 props={"数量":5,"菜品":"剁椒鱼头"}`},
			now:     now, want: []string{"m1"},
		},
		{
			name:    "member columns and attrs",
			prelude: "member {\n  vip_level number\n}",
			cond:    `member.city = "长沙" and member.vip_level > 2`,
			members: []string{`m1 city=长沙 attrs={"vip_level":3}`, `m2 city=长沙 attrs={"vip_level":1}`, `m3 city=北京 attrs={"vip_level":9}`, "m4 city=长沙", "x1 brand=other city=长沙 attrs={\"vip_level\":3}"},
			now:     now, want: []string{"m1"},
		},
		{
			// DuckDB reads these texts as numbers above every number;
			// they read as no number (NULL), as a malformed one does.
			name:    "a field holding NaN, inf or 1e999 is no number",
			prelude: "member {\n  score number\n}",
			cond:    `member.score > 100 or member.score < 60`,
			members: []string{`m1 attrs={"score":"NaN"}`, `m2 attrs={"score":"inf"}`, `m3 attrs={"score":"-Infinity"}`, `m4 attrs={"score":"1e999"}`, `m5 attrs={"score":"150"}`, `m6 attrs={"score":50}`},
			now:     now, want: []string{"m5", "m6"},
		},
		{
			name:    "in and not in lists; NULL is in neither",
			cond:    `member.tier in ("gold", "silver") or member.tier not in ("gold", "silver", "bronze")`,
			members: []string{"m1 tier=gold", "m2 tier=bronze", "m3 tier=wood", "m4"},
			now:     now, want: []string{"m1", "m3"},
		},
		{
			name:    "is null on member fields",
			cond:    `member.tier is null`,
			members: []string{"m1 tier=gold", "m2"},
			now:     now, want: []string{"m2"},
		},
		{
			name:    "segments are inlined",
			prelude: "segment buyer = purchased ever\nsegment big = buyer and sum(purchased.amount ever) > 10",
			cond:    "big and not dormant",
			events:  []string{"1 m1 purchased 2024-06-01 amount=50", "2 m2 purchased 2024-06-01 amount=5", "3 m3 purchased 2020-06-01 amount=500"},
			now:     now, want: []string{"m1"},
		},
		{
			name:   "aggregate in a where filter is per member",
			cond:   "purchased where amount > avg(purchased.amount ever) in last 30 days",
			events: []string{"1 m1 purchased 2024-06-01 amount=10", "2 m1 purchased 2024-06-02 amount=30", "3 m2 purchased 2024-06-01 amount=10", "4 m2 purchased 2024-01-01 amount=30"},
			now:    now, want: []string{"m1"},
		},
		{
			name:    "member field in a where filter",
			cond:    "purchased where store = member.city ever",
			members: []string{"m1 city=A", "m2 city=B", "m3"},
			events:  []string{"1 m1 purchased 2024-06-01 store=A", "2 m2 purchased 2024-06-01 store=A", "3 m3 purchased 2024-06-01 store=A"},
			now:     now, want: []string{"m1"},
		},
		// ---- tags, brand isolation, functions ----
		{
			name: "tagged reads this brand's tags only",
			cond: `tagged "vip"`,
			tags: []string{"acme m1 vip", "other m2 vip", "acme m3 vvip"},
			now:  now, want: []string{"m1"},
		},
		{
			name:    "brand isolation: other brands' members and events are invisible",
			cond:    "purchased ever or count(visited ever) = 0",
			members: []string{"m1", "m2", "x1 brand=other", "x2 brand=other"},
			events:  []string{"1 x1 purchased 2024-06-01 brand=other", "2 m2 visited 2024-06-01 brand=other", "3 m1 purchased 2024-06-01 brand=other"},
			now:     now, want: []string{"m1", "m2"},
		},
		{
			// SPEC §5: a member is (brand, member_id); another brand's
			// member of the same id shares no field, tag or event.
			name:    "brand isolation: another brand's member with the same id is another member",
			prelude: "member {\n  vip_level number\n}",
			cond:    `member.city = "A" or tagged "vip" or purchased ever or member.vip_level >= 3`,
			members: []string{"m1 city=B", "m2 city=B", "m3",
				`m1 brand=other city=A attrs={"vip_level":3}`, "m2 brand=other city=A", "m3 brand=other city=A"},
			events: []string{"1 m2 purchased 2024-06-01 brand=other"},
			tags:   []string{"other m3 vip"},
			now:    now, want: nil,
		},
		{
			// DuckDB 1.5.6 holds INTERVAL 1 MONTH equal to INTERVAL 30 DAY
			// and computed the two windows' counts once when now is a
			// column (a trigger's per-candidate aggregates): this never
			// fired. m1's purchase (10 May 11:00) is in the month before
			// its queue (after 10 May 10:00) but not in its 30 days (after
			// 11 May 10:00); m2's is in both.
			name: "a window of a month and one of 30 days in one trigger rule",
			cond: "queued and count(purchased in last 30 days) = 0 and count(purchased in last 1 month) = 1",
			events: []string{"1 m1 purchased 2024-05-10T11:00", "2 m1 queued 2024-06-10T10:00",
				"3 m2 purchased 2024-05-12T11:00", "4 m2 queued 2024-06-10T10:00"},
			now: now, want: []string{"m1#2@2024-06-10T10:00"},
		},
		{
			name:    "brand isolation: a trigger reads its own brand's member of the id",
			cond:    `queued and member.city = "A"`,
			members: []string{"m1 city=B", "m2 city=A", "m1 brand=other city=A", "m2 brand=other city=B"},
			events:  []string{"1 m1 queued 2024-06-10T10:00", "2 m2 queued 2024-06-10T10:00"},
			now:     now, want: []string{"m2#2@2024-06-10T10:00"},
		},
		{
			name:    "birthday_in through the stdlib macro",
			cond:    "birthday_in(3 days)",
			members: []string{"m1 birthday=1990-06-12", "m2 birthday=1990-06-20", "m3", "x1 brand=other birthday=1990-06-10"},
			now:     now, want: []string{"m1"},
		},
		// ---- trigger rules ----
		{
			name: "trigger: each matching event fires once per event",
			cond: `queued at store "A" or booked at store "A"`,
			events: []string{
				"1 m1 queued 2024-06-10T10:00 store=A", "2 m1 booked 2024-06-10T11:00 store=A",
				"3 m2 queued 2024-06-10T10:00 store=B", "4 m3 visited 2024-06-10T10:00 store=A",
				"5 m3 queued 2024-06-10T12:30 store=A", // not due yet
				"6 x1 queued 2024-06-10T10:00 store=A brand=other",
			},
			now: now, want: []string{"m1#1@2024-06-10T10:00", "m1#2@2024-06-10T11:00"},
		},
		{
			name: "trigger: watermark skips events seen by the previous run but keeps late ones",
			cond: `queued`,
			events: []string{
				"1 m1 queued 2024-06-10T09:00", // seen: seq <= 2 and ts <= 11:00
				"2 m2 queued 2024-06-10T11:30", // seq seen but due after wm_now (future-dated then): new
				"3 m3 queued 2024-06-10T08:00", // ingested late: seq > 2
			},
			wm:  &watermark{Seq: 2, Now: mustTime(t, "2024-06-10T11:00")},
			now: now, want: []string{"m2#2@2024-06-10T11:30", "m3#3@2024-06-10T08:00"},
		},
		{
			name: "trigger: before is strictly before the triggering event",
			cond: `purchased where amount > 1.5 * avg(purchased.amount before) and count(purchased before) >= 3`,
			events: []string{
				"1 m1 purchased 2024-06-01 amount=10", "2 m1 purchased 2024-06-02 amount=12", "3 m1 purchased 2024-06-03 amount=11",
				"4 m1 purchased 2024-06-09 amount=100", // avg before 11, 3 before: fires
				"5 m2 purchased 2024-06-01 amount=10", "6 m2 purchased 2024-06-02 amount=10",
				"7 m2 purchased 2024-06-09 amount=100", // only 2 before
				"8 m3 purchased 2024-06-01 amount=10", "9 m3 purchased 2024-06-02 amount=10", "10 m3 purchased 2024-06-09 amount=10",
				"11 m3 purchased 2024-06-09 amount=100", // same ts as #10: #10 is not before it
			},
			now: now, want: []string{"m1#4@2024-06-09T00:00"},
		},
		{
			name: "trigger: windows end at the due time",
			cond: `queued and purchased in last 7 days`,
			events: []string{
				"1 m1 purchased 2024-06-01T10:00", "2 m1 queued 2024-06-05", // before the queue: in
				"3 m2 queued 2024-06-09", "4 m2 purchased 2024-06-09T12:00", // after the queue: out
				"5 m3 purchased 2024-06-08", "6 m3 queued 2024-06-08", // at the same instant: in
			},
			now: now, want: []string{"m1#2@2024-06-05T00:00", "m3#6@2024-06-08T00:00"},
		},
		{
			name: "trigger: aggregates and ever end at the due time",
			cond: `queued and count(queued in last 1 day) >= 2 and not purchased ever`,
			events: []string{
				"1 m1 queued 2024-06-09T08:00", "2 m1 queued 2024-06-09T09:00", "3 m1 purchased 2024-06-09T10:00", // purchase after: #2 fires
				"4 m2 queued 2024-06-09T08:00", "5 m2 purchased 2024-06-09T07:00", "6 m2 queued 2024-06-09T09:00", // purchase before: none
			},
			now: now, want: []string{"m1#2@2024-06-09T09:00"},
		},
		{
			name: "trigger: days since counts to the due time",
			cond: `queued and days since last purchased >= 3`,
			events: []string{
				"1 m1 purchased 2024-06-01", "2 m1 queued 2024-06-03", // 2 days at the queue
				"3 m2 purchased 2024-06-01", "4 m2 queued 2024-06-05", // 4 days
			},
			now: now, want: []string{"m2#4@2024-06-05T00:00"},
		},
		{
			name: "trigger: not followed by: windows end at the deadline",
			cond: `order_placed not followed by paid within 2 hours and booked in last 1 hour`,
			events: []string{
				"1 m1 order_placed 2024-06-10T08:00", "2 m1 booked 2024-06-10T09:30", // in (09:00, 10:00]
				"3 m2 order_placed 2024-06-10T08:00", "4 m2 booked 2024-06-10T11:30", // after the deadline
				"5 m3 order_placed 2024-06-10T08:00", "6 m3 booked 2024-06-10T10:00", // at the deadline: in
			},
			now: now, want: []string{"m1#1@2024-06-10T10:00", "m3#5@2024-06-10T10:00"},
		},
		{
			name: "trigger: not followed by ... matching ... within",
			cond: `order_placed not followed by paid matching order_id within 2 hours`,
			events: []string{
				"1 m1 order_placed 2024-06-10T08:00 order=o1", "2 m1 paid 2024-06-10T09:00 order=o1", // paid: no fire
				"3 m1 order_placed 2024-06-10T08:00 order=o2", "4 m1 paid 2024-06-10T10:01 order=o2", // paid too late: fires
				"5 m2 order_placed 2024-06-10T08:00 order=o3", "6 m2 paid 2024-06-10T09:00 order=o9", // other order: fires
				"7 m2 order_placed 2024-06-10T08:00 order=o4", "8 m2 paid 2024-06-10T10:00 order=o4", // paid at exactly +2h: no fire
				"9 m3 order_placed 2024-06-10T11:00 order=o5",                                          // not due yet
				"10 m3 order_placed 2024-06-10T08:00 order=o6", "11 m1 paid 2024-06-10T09:00 order=o6", // paid by another member: fires
				"12 m3 order_placed 2024-06-10T08:00 order=o7", "13 m3 paid 2024-06-10T08:00 order=o7", // paid at the same instant: not after
			},
			now: now, want: []string{"m1#3@2024-06-10T10:00", "m2#5@2024-06-10T10:00", "m3#10@2024-06-10T10:00", "m3#12@2024-06-10T10:00"},
		},
		{
			name: "trigger: not followed by with filters on both events",
			cond: `order_placed at store "A" not followed by paid via channel "app" within 1 day`,
			events: []string{
				"1 m1 order_placed 2024-06-08T08:00 store=A", "2 m1 paid 2024-06-08T09:00 channel=web",
				"3 m2 order_placed 2024-06-08T08:00 store=A", "4 m2 paid 2024-06-08T09:00 channel=app",
				"5 m3 order_placed 2024-06-08T08:00 store=B",
			},
			now: now, want: []string{"m1#1@2024-06-09T08:00"},
		},
		{
			name: "trigger: an event matching two atoms fires once",
			cond: `queued at store "A" or queued where party_size > 2`,
			events: []string{
				`1 m1 queued 2024-06-10T10:00 store=A props={"party_size":3}`,
				`2 m2 queued 2024-06-10T10:00 store=B props={"party_size":3}`,
				`3 m3 queued 2024-06-10T10:00 store=A props={"party_size":5}`,
				`4 m3 queued 2024-06-10T10:00 store=B`,
			},
			now: now, want: []string{"m1#1@2024-06-10T10:00", "m2#2@2024-06-10T10:00", "m3#3@2024-06-10T10:00"},
		},
		{
			name:    "trigger: events of unknown members do not fire",
			cond:    `queued`,
			members: []string{"m1"},
			events:  []string{"1 m1 queued 2024-06-10T10:00", "2 ghost queued 2024-06-10T10:00"},
			now:     now, want: []string{"m1#1@2024-06-10T10:00"},
		},
	}
	ctx := context.Background()
	db := openDB(t)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := "brand \"acme\"\nimport \"crm\"\n" + tc.prelude + "\nrule r\n  if " + tc.cond + "\n  then send coupon \"X\" via sms\n"
			p, info, err := compileText(src)
			if err != nil {
				t.Fatalf("%v\n%s", err, src)
			}
			if len(p.Rules) != 1 {
				t.Fatalf("got %d rules", len(p.Rules))
			}
			ms := tc.members
			if ms == nil {
				ms = defaultMembers
			}
			var members []member
			for _, m := range ms {
				members = append(members, parseMember(t, m))
			}
			var events []event
			for _, e := range tc.events {
				events = append(events, parseEvent(t, e))
			}
			load(t, db, members, events, tc.tags)
			wm := noWatermark
			if tc.wm != nil {
				wm = *tc.wm
			}
			got, err := runRule(ctx, db, p.Rules[0], mustTime(t, tc.now), wm)
			if err != nil {
				t.Fatal(err)
			}
			if !sameFirings(got, tc.want) {
				t.Errorf("firings:\n got %v\nwant %v\nSQL:\n%s", got, tc.want, p.Rules[0].SQL)
			}
			// The reference evaluator must agree with the hand-checked answer too.
			if tc.name == "birthday_in through the stdlib macro" {
				return // functions are SQL templates; the reference does not model them
			}
			ref := newRefWorld(info, members, events, tc.tags, mustTime(t, tc.now), wm).fire(info.Rules[0])
			if !sameFirings(ref, tc.want) {
				t.Errorf("reference evaluator:\n got %v\nwant %v", ref, tc.want)
			}
		})
	}
}
