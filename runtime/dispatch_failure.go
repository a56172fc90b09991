package runtime

import "nudge/runtime/redact"

// failure returns the text recorded as a failed attempt's last_error: err's
// text with its credentials removed (redact.Text), since a sink's error may
// name its URL. The first one of the dispatch is kept as res.Error.
func (res *DispatchResult) failure(err error) string {
	s := redact.Error(err)
	if res.Error == "" {
		res.Error = s
	}
	return s
}
