package tui

import "github.com/charmbracelet/lipgloss"

// styles are all the lipgloss styles of the TUI, made from one renderer so a
// test can pin the colour profile without touching lipgloss's global state.
type styles struct {
	keyword, str, number, comment, operator, command, field, event, segment lipgloss.Style

	cursor     lipgloss.Style
	prompt     lipgloss.Style
	echo       lipgloss.Style
	summary    lipgloss.Style
	errText    lipgloss.Style
	warnText   lipgloss.Style
	hint       lipgloss.Style
	separator  lipgloss.Style
	status     lipgloss.Style
	statusKey  lipgloss.Style
	statusBusy lipgloss.Style

	tableHeader, tableCell, tableSelected lipgloss.Style
}

func newStyles(r *lipgloss.Renderer) styles {
	s := r.NewStyle
	return styles{
		keyword:  s().Foreground(lipgloss.Color("#C678DD")).Bold(true),
		str:      s().Foreground(lipgloss.Color("#98C379")),
		number:   s().Foreground(lipgloss.Color("#D19A66")),
		comment:  s().Foreground(lipgloss.Color("#7F848E")).Italic(true),
		operator: s().Foreground(lipgloss.Color("#56B6C2")),
		command:  s().Foreground(lipgloss.Color("#61AFEF")).Bold(true),
		field:    s().Foreground(lipgloss.Color("#E5C07B")),
		event:    s().Foreground(lipgloss.Color("#61AFEF")),
		segment:  s().Foreground(lipgloss.Color("#56B6C2")).Underline(true),

		cursor:     s().Reverse(true),
		prompt:     s().Foreground(lipgloss.Color("#61AFEF")).Bold(true),
		echo:       s().Foreground(lipgloss.Color("#7F848E")),
		summary:    s().Bold(true),
		errText:    s().Foreground(lipgloss.Color("#E06C75")),
		warnText:   s().Foreground(lipgloss.Color("#E5C07B")),
		hint:       s().Foreground(lipgloss.Color("#7F848E")),
		separator:  s().Foreground(lipgloss.Color("#3E4451")),
		status:     s().Foreground(lipgloss.Color("#ABB2BF")).Background(lipgloss.Color("#282C34")),
		statusKey:  s().Foreground(lipgloss.Color("#282C34")).Background(lipgloss.Color("#61AFEF")).Bold(true),
		statusBusy: s().Foreground(lipgloss.Color("#282C34")).Background(lipgloss.Color("#E5C07B")).Bold(true),

		tableHeader:   s().Bold(true).Padding(0, 1).Foreground(lipgloss.Color("#61AFEF")),
		tableCell:     s().Padding(0, 1),
		tableSelected: s(), // we scroll ourselves; no row is selected
	}
}

// class returns the style of a token class.
func (st styles) class(c tokenClass) (lipgloss.Style, bool) {
	switch c {
	case tokKeyword:
		return st.keyword, true
	case tokString:
		return st.str, true
	case tokNumber:
		return st.number, true
	case tokComment:
		return st.comment, true
	case tokOperator:
		return st.operator, true
	case tokCommand:
		return st.command, true
	case tokField:
		return st.field, true
	case tokEvent:
		return st.event, true
	case tokSegment:
		return st.segment, true
	}
	return lipgloss.Style{}, false
}
