//! The full-screen face of `--top`: what the keys do ([`View::key`]) and what is drawn
//! ([`View::draw`]), from a [`Snapshot`]. No I/O: it draws into a ratatui frame, which the
//! terminal loop (or a test's backend) puts on a screen.

use super::snapshot::{Snapshot, SortBy, Standing};
use super::tally::GroupBy;
use crate::listen::table::{clock, fit, shorten, Table as Cells};
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Sparkline, Table, TableState, Wrap};
use ratatui::Frame;

/// The smallest screen the view is drawn on; a smaller one says so instead.
pub const MIN_WIDTH: u16 = 60;
/// See [`MIN_WIDTH`].
pub const MIN_HEIGHT: u16 = 16;

/// The blanks between two columns.
const SPACING: usize = 1;

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// `q` or Ctrl-C: quit.
    Quit,
    /// `Esc`: back from the notification shown, else quit.
    Back,
    /// `s`: the next sort order.
    Sort,
    /// `b`: the next grouping.
    Group,
    /// `p`: pause or resume the display.
    Pause,
    /// Up arrow.
    Up,
    /// Down arrow.
    Down,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Home.
    Home,
    /// End.
    End,
    /// `Enter`: show the last notification of the selected row.
    Enter,
}

impl Key {
    /// Every key.
    #[cfg(test)]
    pub const ALL: [Key; 12] = [
        Key::Quit,
        Key::Back,
        Key::Sort,
        Key::Group,
        Key::Pause,
        Key::Up,
        Key::Down,
        Key::PageUp,
        Key::PageDown,
        Key::Home,
        Key::End,
        Key::Enter,
    ];
}

/// What the caller must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing more than drawing again.
    Redraw,
    /// End the run.
    Quit,
    /// Show the last notification of the row with this key.
    Show(String),
}

/// A notification shown in full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The row it is the last of.
    pub key: String,
    /// Its lines, as the pretty format writes them.
    pub lines: Vec<String>,
    /// The first line shown.
    pub scroll: usize,
}

/// The state of the screen.
#[derive(Debug, Clone)]
pub struct View {
    /// What rows are grouped by.
    pub by: GroupBy,
    /// How rows are sorted.
    pub sort: SortBy,
    /// The snapshot kept on screen while paused.
    pub paused: Option<Snapshot>,
    /// The selected row.
    pub selected: usize,
    /// The notification shown, if one is.
    pub shown: Option<Shown>,
    /// Whether colours are used (NO_COLOR unset).
    pub color: bool,
    /// What the title line names: the broker and what is listened to.
    pub title: String,
    /// How many rows the last draw had room for: what a page is.
    page: usize,
    /// How many rows the last snapshot drawn had.
    rows: usize,
    /// The keys of the rows as last drawn, in order.
    keys: Vec<String>,
}

impl View {
    /// A view grouping by `by`, sorted by count.
    pub fn new(by: GroupBy, color: bool, title: String) -> Self {
        View {
            by,
            sort: SortBy::Count,
            paused: None,
            selected: 0,
            shown: None,
            color,
            title,
            page: 10,
            rows: 0,
            keys: Vec::new(),
        }
    }

    /// Does what `key` asks for; `latest` is the snapshot to freeze when pausing.
    pub fn key(&mut self, key: Key, latest: &Snapshot) -> Action {
        if let Some(shown) = &mut self.shown {
            let last = shown.lines.len().saturating_sub(1);
            match key {
                Key::Quit => return Action::Quit,
                Key::Back | Key::Enter => self.shown = None,
                Key::Up => shown.scroll = shown.scroll.saturating_sub(1),
                Key::Down => shown.scroll = (shown.scroll + 1).min(last),
                Key::PageUp => shown.scroll = shown.scroll.saturating_sub(self.page),
                Key::PageDown => shown.scroll = (shown.scroll + self.page).min(last),
                Key::Home => shown.scroll = 0,
                Key::End => shown.scroll = last,
                Key::Sort | Key::Group | Key::Pause => {}
            }
            return Action::Redraw;
        }
        let last = self.rows.saturating_sub(1);
        match key {
            Key::Quit | Key::Back => return Action::Quit,
            Key::Sort => self.sort = self.sort.next(),
            Key::Group => {
                self.by = self.by.next();
                self.selected = 0;
            }
            Key::Pause => {
                self.paused = match self.paused {
                    Some(_) => None,
                    None => Some(latest.clone()),
                }
            }
            Key::Up => self.selected = self.selected.saturating_sub(1),
            Key::Down => self.selected = (self.selected + 1).min(last),
            Key::PageUp => self.selected = self.selected.saturating_sub(self.page),
            Key::PageDown => self.selected = (self.selected + self.page).min(last),
            Key::Home => self.selected = 0,
            Key::End => self.selected = last,
            Key::Enter => {
                if let Some(key) = self.keys.get(self.selected) {
                    return Action::Show(key.clone());
                }
            }
        }
        Action::Redraw
    }

    /// Shows `lines` (the last notification of the row `key`), or says there is none.
    pub fn show(&mut self, key: String, lines: Vec<String>) {
        self.shown = Some(Shown {
            key,
            lines,
            scroll: 0,
        });
    }

    /// Draws `snapshot` (or the notification shown) and `status` (the last thing said) into
    /// `frame`.
    pub fn draw(&mut self, frame: &mut Frame, latest: &Snapshot, status: &str) {
        let area = frame.area();
        if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
            let text = vec![
                Line::raw(format!(
                    "terminal too small: {}x{}",
                    area.width, area.height
                )),
                Line::raw(format!("--top needs {MIN_WIDTH}x{MIN_HEIGHT}")),
                Line::raw("q quits"),
            ];
            frame.render_widget(
                Paragraph::new(text)
                    .alignment(Alignment::Center)
                    .wrap(Wrap { trim: true }),
                area,
            );
            return;
        }
        let snapshot = self.paused.clone().unwrap_or_else(|| latest.clone());
        self.rows = snapshot.rows.len();
        self.keys = snapshot.rows.iter().map(|r| r.key.clone()).collect();
        self.selected = self.selected.min(self.rows.saturating_sub(1));
        // The status beside the keys when both fit, else on a line of its own above them.
        let footer_lines = if KEYS_WIDTH + 1 + status.chars().count() <= usize::from(area.width) {
            1
        } else {
            2
        };
        let [header, spark, body, footer] = Layout::vertical([
            Constraint::Length(1),
            Constraint::Length(2),
            Constraint::Min(6),
            Constraint::Length(footer_lines),
        ])
        .areas(area);
        self.draw_header(frame, header, &snapshot);
        self.draw_sparkline(frame, spark, &snapshot);
        match self.shown.clone() {
            Some(shown) => self.draw_shown(frame, body, &shown),
            None => self.draw_tables(frame, body, &snapshot),
        }
        self.draw_footer(frame, footer, status);
    }

    fn style(&self, color: Color) -> Style {
        if self.color {
            Style::default().fg(color)
        } else {
            Style::default()
        }
    }

    fn draw_header(&self, frame: &mut Frame, area: Rect, s: &Snapshot) {
        let bold = Style::default().add_modifier(Modifier::BOLD);
        let mut spans = vec![
            Span::styled(self.title.clone(), bold),
            Span::raw(format!(
                "  {}  {} notifications  {:.1}/s  ",
                clock(std::time::Duration::from_secs_f64(s.elapsed_s)),
                s.total,
                s.rate
            )),
            Span::styled(
                format!(
                    "{} {}",
                    s.errors,
                    if s.errors == 1 { "error" } else { "errors" }
                ),
                if s.errors > 0 {
                    self.style(Color::Red).add_modifier(Modifier::BOLD)
                } else {
                    Style::default()
                },
            ),
        ];
        // Each source, green while it is read, red while it is not.
        for source in &s.sources {
            let style = match source.state == Standing::Listening {
                true => self.style(Color::Green),
                false => self.style(Color::Red).add_modifier(Modifier::BOLD),
            };
            spans.push(Span::raw("  "));
            spans.push(Span::styled(
                format!("{} {}", source.source, source.state),
                style,
            ));
        }
        if self.paused.is_some() {
            spans.push(Span::styled(
                "  PAUSED",
                bold.add_modifier(Modifier::REVERSED),
            ));
        }
        frame.render_widget(Line::from(spans), area);
    }

    fn draw_sparkline(&self, frame: &mut Frame, area: Rect, s: &Snapshot) {
        let [label, line] =
            Layout::horizontal([Constraint::Length(12), Constraint::Min(10)]).areas(area);
        let peak = s.history.iter().copied().max().unwrap_or(0);
        frame.render_widget(
            Paragraph::new(vec![
                Line::raw("rate, 60 s"),
                Line::raw(format!("peak {peak}/s")),
            ]),
            label,
        );
        // The newest seconds at the right edge, as many as fit.
        let shown = usize::from(line.width).min(s.history.len());
        let data = &s.history[s.history.len() - shown..];
        frame.render_widget(
            Sparkline::default()
                .data(data)
                .style(self.style(Color::Green)),
            line,
        );
    }

    fn draw_tables(&mut self, frame: &mut Frame, area: Rect, s: &Snapshot) {
        let operations = s.operations.len();
        let queues = s.queues.len();
        // Title and header lines, then as many lines as there are entries, within bounds.
        let ops_height = if operations == 0 {
            0
        } else {
            (operations.min(6) + 2) as u16
        };
        let queues_height = (queues.clamp(1, 4) + 2) as u16;
        let [rows, ops, queue] = Layout::vertical([
            Constraint::Min(4),
            Constraint::Length(ops_height),
            Constraint::Length(queues_height),
        ])
        .areas(area);
        self.page = usize::from(rows.height.saturating_sub(2)).max(1);
        let title = format!(
            " by {} (b) · sorted by {} (s) · {} {} ",
            s.by,
            self.sort.name(),
            s.rows.len(),
            if s.rows.len() == 1 { "row" } else { "rows" }
        );
        let mut state = TableState::default().with_selected(Some(self.selected));
        let rows_cells = s.rows_table();
        let table = self.table(&rows_cells, rows.width, title, |_| Style::default());
        frame.render_stateful_widget(table, rows, &mut state);
        if operations > 0 {
            let ops_cells = s.operations_table();
            let stale_after = " operations: .start paired with .end/.error ".to_owned();
            let table = self.table(&ops_cells, ops.width, stale_after, |row| {
                let stale = row.get(5).is_some_and(|c| c != "0");
                if stale {
                    self.style(Color::Yellow)
                } else {
                    Style::default()
                }
            });
            frame.render_widget(table, ops);
        }
        if queues == 0 {
            frame.render_widget(
                Paragraph::new("no shared queue of these topics exists (yet)").block(
                    Block::new()
                        .borders(Borders::TOP)
                        .title(" shared queues, every 5 s "),
                ),
                queue,
            );
        } else {
            let cells = s.queues_table();
            let title = " shared queues, every 5 s ".to_owned();
            let table = self.table(&cells, queue.width, title, |row| {
                if row.last().is_some_and(|c| !c.is_empty()) {
                    self.style(Color::Red).add_modifier(Modifier::BOLD)
                } else {
                    Style::default()
                }
            });
            frame.render_widget(table, queue);
        }
    }

    /// `cells` as a table `width` columns wide: figures at their natural width, text
    /// columns sharing the rest (long texts shortened in the middle).
    fn table(
        &self,
        cells: &Cells,
        width: u16,
        title: String,
        row_style: impl Fn(&[String]) -> Style,
    ) -> Table<'static> {
        let widths = fit(cells, usize::from(width), SPACING);
        let constraints: Vec<Constraint> = widths
            .iter()
            .map(|w| Constraint::Length(*w as u16))
            .collect();
        let line = |column: usize, text: &str| {
            let line = Line::raw(shorten(text, widths[column]));
            if cells.is_left_aligned(column) {
                line
            } else {
                line.alignment(Alignment::Right)
            }
        };
        let header = Row::new(
            cells
                .header
                .iter()
                .enumerate()
                .map(|(c, h)| Cell::from(line(c, h))),
        )
        .style(self.style(Color::Cyan).add_modifier(Modifier::BOLD));
        let rows: Vec<Row> = cells
            .rows
            .iter()
            .map(|row| {
                Row::new(
                    row.iter()
                        .enumerate()
                        .map(|(c, text)| Cell::from(line(c, text))),
                )
                .style(row_style(row))
            })
            .collect();
        Table::new(rows, constraints)
            .header(header)
            .block(Block::new().borders(Borders::TOP).title(title))
            .column_spacing(SPACING as u16)
            .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED))
    }

    fn draw_shown(&self, frame: &mut Frame, area: Rect, shown: &Shown) {
        let lines: Vec<Line> = shown
            .lines
            .iter()
            .skip(shown.scroll)
            .map(|l| Line::raw(l.as_str()))
            .collect();
        let title = format!(" last of {} · Esc back ", shown.key);
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .block(Block::new().borders(Borders::TOP).title(title)),
            area,
        );
    }

    fn draw_footer(&self, frame: &mut Frame, area: Rect, status: &str) {
        let keys = if self.shown.is_some() {
            " Esc back  ↑↓ PgUp PgDn scroll  q quit "
        } else {
            " q quit  s sort  b group  p pause  ↑↓ Enter "
        };
        let keys = Line::styled(keys, Style::default().add_modifier(Modifier::REVERSED));
        if area.height >= 2 {
            let [said, bottom] =
                Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
            let status = shorten(status, usize::from(said.width));
            frame.render_widget(Line::raw(status), said);
            frame.render_widget(keys, bottom);
            return;
        }
        let width = KEYS_WIDTH as u16;
        let [left, right] =
            Layout::horizontal([Constraint::Length(width + 1), Constraint::Fill(1)]).areas(area);
        frame.render_widget(keys, left);
        frame.render_widget(Line::raw(status), right);
    }
}

/// The width of the widest line of keys in the footer.
const KEYS_WIDTH: usize = 40;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listen::top::snapshot::{QueueDepth, RowFigures};
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn snapshot(rows: usize) -> Snapshot {
        Snapshot {
            at: "2026-11-26T11:00:00.000000Z".into(),
            elapsed_s: 83.0,
            total: 1234,
            rate: 103.5,
            errors: 3,
            by: "event_type",
            rows: (0..rows)
                .map(|i| RowFigures {
                    key: format!("compute.instance.event{i}"),
                    count: 100 - i as u64,
                    rate: 1.5,
                    errors: 0,
                    last_seen_s: 0.4,
                })
                .collect(),
            operations: vec![],
            queues: vec![QueueDepth {
                source: String::new(),
                queue: "notifications.info".into(),
                exchange: "openstack".into(),
                messages: 12,
                consumers: 0,
            }],
            sources: vec![],
            history: vec![1; 60],
            sort: Some(SortBy::Count),
            last: false,
        }
    }

    fn screen(view: &mut View, s: &Snapshot, width: u16, height: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|frame| view.draw(frame, s, "connected"))
            .unwrap();
        let buffer = terminal.backend().buffer().clone();
        let mut text = String::new();
        for y in 0..height {
            for x in 0..width {
                text.push_str(buffer[(x, y)].symbol());
            }
            text.push('\n');
        }
        text
    }

    #[test]
    fn at_200_columns_the_figures_sit_by_the_names() {
        let mut view = View::new(GroupBy::EventType, false, "oslo-listen --top".into());
        let text = screen(&mut view, &snapshot(3), 200, 30);
        let row = text
            .lines()
            .find(|l| l.starts_with("compute.instance.event0"))
            .unwrap();
        let name_end = "compute.instance.event0".len();
        let count_at = row.find("100").unwrap();
        assert!(count_at - name_end < 12, "{row}");
    }

    #[test]
    fn a_long_status_gets_a_line_of_its_own_at_80_columns() {
        let mut view = View::new(GroupBy::EventType, false, "oslo-listen --top".into());
        let status = "listening on localhost:5672 (t.audit, t.debug, t.info, t.warn, t.error)";
        let mut terminal = Terminal::new(TestBackend::new(80, 24)).unwrap();
        terminal
            .draw(|frame| view.draw(frame, &snapshot(3), status))
            .unwrap();
        let buffer = terminal.backend().buffer().clone();
        let line = |y: u16| -> String { (0..80).map(|x| buffer[(x, y)].symbol()).collect() };
        assert_eq!(line(22).trim_end(), status, "whole, above the keys");
        assert!(line(23).contains("q quit"));
        let longer = format!("{status} and more said here to be far wider than eighty columns");
        terminal
            .draw(|frame| view.draw(frame, &snapshot(3), &longer))
            .unwrap();
        let buffer = terminal.backend().buffer().clone();
        let said: String = (0..80).map(|x| buffer[(x, 22)].symbol()).collect();
        assert!(
            said.starts_with("listening on") && said.contains('…'),
            "{said}"
        );
        assert!(said.trim_end().ends_with("eighty columns"), "{said}");
    }

    #[test]
    fn an_80_by_24_screen_shows_every_part() {
        let mut view = View::new(GroupBy::EventType, false, "oslo-listen --top".into());
        let text = screen(&mut view, &snapshot(3), 80, 24);
        assert!(
            text.contains("1234 notifications  103.5/s  3 errors"),
            "{text}"
        );
        assert!(text.contains("compute.instance.event0"), "{text}");
        assert!(text.contains("notifications.info"), "{text}");
        assert!(text.contains("NO CONSUMER"), "{text}");
        assert!(text.contains("q quit"), "{text}");
        assert!(text.contains("connected"), "{text}");
    }

    #[test]
    fn text_columns_share_what_figures_leave() {
        let cells = Cells {
            header: vec![
                "QUEUE".into(),
                "EXCHANGE".into(),
                "MESSAGES".into(),
                "".into(),
            ],
            rows: vec![vec![
                "q".repeat(40),
                "e".repeat(20),
                "12".into(),
                "NO CONSUMER".into(),
            ]],
            text_columns: 2,
        };
        // Room for everything: names as wide as they are, the figures a little air each (at
        // most 3), the rest of the line blank.
        assert_eq!(fit(&cells, 100, 1), [40, 20, 8 + 3, 11 + 3]);
        assert_eq!(fit(&cells, 86, 1), [40, 20, 8 + 2, 11 + 2]);
        // Not enough: in proportion to what each wants.
        assert_eq!(fit(&cells, 60, 1), [25, 12, 8, 11]);
        assert_eq!(
            shorten("compute.instance.create.end", 27),
            "compute.instance.create.end"
        );
        assert_eq!(
            shorten("compute.instance.create.end", 15),
            "compute…ate.end"
        );
        assert_eq!(shorten("abc", 1), "…");
    }

    #[test]
    fn a_small_screen_says_so() {
        let mut view = View::new(GroupBy::EventType, false, "t".into());
        let text = screen(&mut view, &snapshot(3), 40, 10);
        assert!(text.contains("terminal too small: 40x10"), "{text}");
    }

    #[test]
    fn keys_move_sort_group_pause_and_show() {
        let s = snapshot(30);
        let mut view = View::new(GroupBy::EventType, false, "t".into());
        screen(&mut view, &s, 80, 24);
        assert_eq!(view.key(Key::Down, &s), Action::Redraw);
        assert_eq!(view.selected, 1);
        view.key(Key::End, &s);
        assert_eq!(view.selected, 29);
        view.key(Key::PageUp, &s);
        assert!(
            view.selected < 29 && view.selected > 10,
            "{}",
            view.selected
        );
        view.key(Key::Home, &s);
        assert_eq!(
            view.key(Key::Enter, &s),
            Action::Show("compute.instance.event0".into())
        );
        view.key(Key::Sort, &s);
        assert_eq!(view.sort, SortBy::Rate);
        view.key(Key::Group, &s);
        assert_eq!(view.by, GroupBy::PublisherId);
        view.key(Key::Pause, &s);
        assert!(view.paused.is_some());
        let text = screen(&mut view, &snapshot(2), 80, 24);
        assert!(text.contains("PAUSED"), "{text}");
        assert!(
            text.contains("30 rows"),
            "the frozen snapshot is shown: {text}"
        );
        view.key(Key::Pause, &s);
        assert!(view.paused.is_none());
        view.show(
            "compute.instance.event0".into(),
            vec!["line one".into(), "line two".into()],
        );
        let text = screen(&mut view, &s, 80, 24);
        assert!(text.contains("last of compute.instance.event0"), "{text}");
        assert!(text.contains("line two"), "{text}");
        view.key(Key::Down, &s);
        assert_eq!(view.shown.as_ref().unwrap().scroll, 1);
        assert_eq!(view.key(Key::Back, &s), Action::Redraw);
        assert!(view.shown.is_none());
        assert_eq!(view.key(Key::Back, &s), Action::Quit);
        assert_eq!(view.key(Key::Quit, &s), Action::Quit);
    }

    /// One thing a person does: a key, a resize (the next draw is at that size), or the
    /// next snapshot arriving with another number of rows.
    #[derive(Debug, Clone)]
    enum Act {
        Key(Key),
        Size(u16, u16),
        Rows(usize),
    }

    fn any_act() -> impl proptest::strategy::Strategy<Value = Act> {
        use proptest::prelude::*;
        // Every key but Quit, which ends the sequence.
        let keys: Vec<Key> = Key::ALL.into_iter().filter(|k| *k != Key::Quit).collect();
        let key = prop::sample::select(keys);
        prop_oneof![
            4 => key.prop_map(Act::Key),
            1 => (10u16..200, 3u16..60).prop_map(|(w, h)| Act::Size(w, h)),
            1 => (0usize..30).prop_map(Act::Rows),
        ]
    }

    proptest::proptest! {
        // Each case draws up to 60 frames: fewer cases than the default keep it quick.
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Whatever keys, resizes and snapshots came before (the caller showing each row
        /// asked for, as the terminal loop does), `q` quits, and Esc quits once back at the
        /// table; drawing never fails at any size.
        #[test]
        fn every_state_answers_quit(acts in proptest::collection::vec(any_act(), 0..60)) {
            let mut view = View::new(GroupBy::EventType, false, "oslo-listen --top".into());
            let mut latest = snapshot(3);
            let (mut width, mut height) = (120u16, 40u16);
            for act in acts {
                match act {
                    Act::Key(key) => {
                        match view.key(key, &latest) {
                            Action::Show(row) => view.show(row, vec!["{".into(); 50]),
                            // Only Esc at the table quits here (Quit is never generated).
                            Action::Quit => proptest::prop_assert_eq!(key, Key::Back),
                            Action::Redraw => {}
                        }
                    }
                    Act::Size(w, h) => (width, height) = (w, h),
                    Act::Rows(rows) => latest = snapshot(rows),
                }
                screen(&mut view, &latest, width, height);
            }
            let mut asked = view.clone();
            proptest::prop_assert_eq!(asked.key(Key::Quit, &latest), Action::Quit);
            // Esc: back to the table first when a notification is shown, then quit.
            let mut escaped = view;
            if escaped.shown.is_some() {
                proptest::prop_assert_eq!(escaped.key(Key::Back, &latest), Action::Redraw);
                proptest::prop_assert!(escaped.shown.is_none());
            }
            proptest::prop_assert_eq!(escaped.key(Key::Back, &latest), Action::Quit);
        }
    }
}
