package check

// builtinEventColumns are the fixed columns of the events table (SPEC §6)
// that every event type has, in addition to its declared fields.
var builtinEventColumns = []struct {
	name string
	typ  Type
}{
	{"ts", Timestamp},
	{"store", Text},
	{"sku", Text},
	{"category", Text},
	{"channel", Text},
	{"order_id", Text},
	{"amount", Number},
}

// builtinMemberColumns are the columns of the members table (SPEC §6 and
// stdlib/schema.sql) that `member.NAME` may read. attrs is not a field: the
// declared member fields live in it.
var builtinMemberColumns = []struct {
	name string
	typ  Type
}{
	{"member_id", Text},
	{"brand", Text},
	{"name", Text},
	{"phone", Text},
	{"email", Text},
	{"birthday", Date},
	{"gender", Text},
	{"city", Text},
	{"region", Text},
	{"tier", Text},
	{"occupation", Text},
	{"signup_at", Timestamp},
	{"consent_sms", Bool},
	{"consent_email", Bool},
	{"consent_app_push", Bool},
	{"consent_wechat", Bool},
	{"consent_phone", Bool},
}

// typeNames are the type names an `event` or `member` declaration may use.
var typeNames = []string{"text", "number", "bool", "date", "timestamp"}

// typeAliases maps type names of other languages to nudge's.
var typeAliases = map[string]string{
	"string": "text", "varchar": "text", "str": "text",
	"int": "number", "integer": "number", "float": "number", "double": "number", "decimal": "number", "bigint": "number",
	"boolean": "bool", "datetime": "timestamp", "time": "timestamp",
}

// newEventType returns an event type holding the built-in columns.
func newEventType(name string) *EventType {
	et := &EventType{Name: name, Fields: make(map[string]*Field, len(builtinEventColumns)+4)}
	for _, c := range builtinEventColumns {
		et.Fields[c.name] = &Field{Name: c.name, Type: c.typ, Column: c.name}
	}
	return et
}

// builtinMembers returns the built-in member fields.
func builtinMembers() map[string]*Field {
	m := make(map[string]*Field, len(builtinMemberColumns)+8)
	for _, c := range builtinMemberColumns {
		m[c.name] = &Field{Name: c.name, Type: c.typ, Column: c.name}
	}
	return m
}

// unitMinutes is the length of one duration unit in minutes (months are 30
// days and years 365 days, as everywhere in nudge).
func unitMinutes(u int) int64 {
	switch u {
	case 0:
		return 1
	case 1:
		return 60
	case 2:
		return 24 * 60
	case 3:
		return 7 * 24 * 60
	case 4:
		return 30 * 24 * 60
	default:
		return 365 * 24 * 60
	}
}
