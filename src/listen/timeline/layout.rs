//! A timeline's rows as a table a person reads at a glance: the cells of each [`Row`], and
//! the [`Layout`] that sizes the columns, leaves some out or shortens them to fit a width.
//! Pure.

use super::sheet::Row;
use crate::listen::table::{keep_end, keep_start, shorten, span};

/// The columns, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Number,
    Mark,
    Time,
    Offset,
    Source,
    Service,
    Host,
    Event,
    Instance,
    State,
    Took,
    Request,
}

impl Column {
    const ALL: [Column; 12] = [
        Column::Number,
        Column::Mark,
        Column::Time,
        Column::Offset,
        Column::Source,
        Column::Service,
        Column::Host,
        Column::Event,
        Column::Instance,
        Column::State,
        Column::Took,
        Column::Request,
    ];

    fn title(self) -> &'static str {
        match self {
            Column::Number => "#",
            Column::Mark => "",
            Column::Time => "TIME",
            Column::Offset => "+S",
            Column::Source => "SOURCE",
            Column::Service => "SERVICE",
            Column::Host => "HOST",
            Column::Event => "EVENT",
            Column::Instance => "INSTANCE",
            Column::State => "STATE",
            Column::Took => "TOOK",
            Column::Request => "REQUEST",
        }
    }

    /// Its width while rows are not known yet (live).
    fn usual_width(self) -> usize {
        match self {
            Column::Number => 3,
            Column::Mark => 1,
            Column::Time => 12,
            Column::Offset => 8,
            Column::Source => 8,
            Column::Service => 14,
            Column::Host => 12,
            Column::Event => 36,
            Column::Instance => INSTANCE_WIDTH,
            Column::State => 28,
            Column::Took => 6,
            Column::Request => REQUEST_WIDTH,
        }
    }

    /// How narrow it may be made to fit; `None` for one that is never shortened.
    fn narrowest(self) -> Option<usize> {
        match self {
            Column::Service => Some(6),
            Column::Event => Some(12),
            Column::State => Some(8),
            _ => None,
        }
    }

    /// `cell` in `width` columns: what tells a service or an event type apart is at its end
    /// (`…conductor`, `…create.start`), a state starts with the instance's.
    fn shorten(self, cell: &str, width: usize) -> String {
        match self {
            Column::Service | Column::Event => keep_end(cell, width),
            Column::State => keep_start(cell, width),
            _ => shorten(cell, width),
        }
    }

    fn right_aligned(self) -> bool {
        matches!(self, Column::Number | Column::Offset | Column::Took)
    }
}

/// How much of an instance id is shown: a UUID's first group.
const INSTANCE_WIDTH: usize = 8;
/// How much of a request id is shown: `req-` and a UUID's first group.
const REQUEST_WIDTH: usize = 12;

/// The cells of a row, one per column of [`Column::ALL`].
pub fn cells(row: &Row) -> Vec<String> {
    let step = &row.step;
    let short = |id: &Option<String>, width: usize| {
        id.as_deref()
            .map_or_else(|| "-".to_owned(), |id| id.chars().take(width).collect())
    };
    let time = match step.at {
        Some(at) => at.format("%H:%M:%S%.3f").to_string(),
        None => step.timestamp.clone(),
    };
    vec![
        row.number.to_string(),
        if step.failed { "E" } else { "" }.to_owned(),
        time,
        row.offset
            .map_or_else(|| "-".to_owned(), |s| format!("+{s:.3}")),
        step.source.clone(),
        step.service.clone(),
        step.host.clone(),
        step.event_type.clone(),
        short(&step.instance, INSTANCE_WIDTH),
        step.state.clone().unwrap_or_default(),
        row.duration.map(span).unwrap_or_default(),
        short(&step.request_id, REQUEST_WIDTH),
    ]
}

/// Which columns are written, how wide, with what between them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// The width of each column of [`Column::ALL`]; `None` for one left out.
    widths: Vec<Option<usize>>,
    /// Fitted to a width: longer cells are shortened (else they push the line on).
    fitted: bool,
}

impl Layout {
    /// The layout for rows of these cells (`None` while they are not known: usual widths),
    /// with the request column when `requests` and the source column when `sources` (several
    /// brokers), fitted into `width` columns when given: the
    /// host left out first, then the request, then the time of day (the time since the first
    /// row stays), then the service, event and state shortened.
    pub fn new(
        rows: Option<&[Vec<String>]>,
        requests: bool,
        sources: bool,
        width: Option<usize>,
    ) -> Layout {
        let mut widths: Vec<Option<usize>> = Column::ALL
            .iter()
            .enumerate()
            .map(|(i, column)| {
                let cells = match rows {
                    Some(rows) => rows.iter().map(|r| r[i].chars().count()).max(),
                    None => Some(column.usual_width()),
                };
                Some(cells.unwrap_or(0).max(column.title().len()))
            })
            .collect();
        let index = |c: Column| Column::ALL.iter().position(|a| *a == c).unwrap_or(0);
        if !requests {
            widths[index(Column::Request)] = None;
        }
        if !sources {
            widths[index(Column::Source)] = None;
        }
        let Some(room) = width else {
            return Layout {
                widths,
                fitted: false,
            };
        };
        let total = |widths: &[Option<usize>]| {
            let shown: Vec<usize> = widths.iter().flatten().copied().collect();
            // Two blanks between columns, one between the number and the mark.
            (shown.iter().sum::<usize>() + 2 * shown.len()).saturating_sub(3)
        };
        for dropped in [Column::Host, Column::Request, Column::Time] {
            if total(&widths) > room {
                widths[index(dropped)] = None;
            }
        }
        // Then the shortenable columns give up what is needed, widest first.
        while total(&widths) > room {
            let widest = Column::ALL
                .iter()
                .enumerate()
                .filter_map(|(i, c)| Some((i, widths[i]?, c.narrowest()?)))
                .filter(|(_, width, narrowest)| width > narrowest)
                .max_by_key(|(_, width, _)| *width);
            match widest {
                Some((i, width, _)) => widths[i] = Some(width - 1),
                None => break,
            }
        }
        Layout {
            widths,
            fitted: true,
        }
    }

    /// The line of `cells` (one per column of [`Column::ALL`]), without its line end.
    pub fn line(&self, cells: &[String]) -> String {
        let mut line = String::new();
        for ((column, width), cell) in Column::ALL.iter().zip(&self.widths).zip(cells) {
            let Some(width) = *width else {
                continue;
            };
            match column {
                Column::Number => {}
                // The mark stands close to the number.
                Column::Mark => line.push(' '),
                _ => line.push_str("  "),
            }
            let cell = match self.fitted {
                true => column.shorten(cell, width),
                false => cell.clone(),
            };
            if column.right_aligned() {
                line.push_str(&format!("{cell:>width$}"));
            } else {
                line.push_str(&format!("{cell:<width$}"));
            }
        }
        line.trim_end().to_owned()
    }

    /// The header line.
    pub fn header(&self) -> String {
        let titles: Vec<String> = Column::ALL.iter().map(|c| c.title().to_owned()).collect();
        self.line(&titles)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listen::timeline::row::tests::step;
    use crate::listen::timeline::sheet::Timeline;
    use serde_json::json;

    #[test]
    fn the_cells_of_an_end_say_how_long_it_took() {
        let mut timeline = Timeline::default();
        let i = json!({"instance_id": "inst-1"});
        for (event_type, at) in [
            ("compute.instance.create.start", "2026-12-05 08:00:00.250"),
            ("compute.instance.update", "2026-12-05 08:00:01"),
        ] {
            timeline.add(step(event_type, at, i.clone()));
        }
        let end = timeline.add(step(
            "compute.instance.create.end",
            "2026-12-05 08:00:09.500",
            i,
        ));
        assert_eq!(
            cells(&end),
            [
                "3",
                "",
                "08:00:09.500",
                "+9.250",
                "",
                "nova-compute",
                "cmp1",
                "compute.instance.create.end",
                "inst-1",
                "",
                "9.25s",
                "-"
            ]
        );
    }

    #[test]
    fn a_layout_fits_the_width_leaving_out_the_host_then_the_request() {
        let mut timeline = Timeline::default();
        let row = timeline.add(step(
            "compute.instance.create.start",
            "2026-12-05 08:00:00",
            json!({"instance_id": "3f2a1c0e-9d5b-4b1e-8f00-000000000001", "state": "building"}),
        ));
        let cells = vec![cells(&row)];
        let wide = Layout::new(Some(&cells), true, false, Some(200));
        assert_eq!(
            wide.line(&cells[0]),
            "1   08:00:00.000  +0.000  nova-compute  cmp1  compute.instance.create.start  \
             3f2a1c0e  building        -"
        );
        for width in [80, 100, 120] {
            let layout = Layout::new(Some(&cells), true, false, Some(width));
            for line in [layout.header(), layout.line(&cells[0])] {
                assert!(line.chars().count() <= width, "{width}: {line}");
            }
        }
        let narrow = Layout::new(Some(&cells), true, false, Some(80));
        assert!(!narrow.header().contains("HOST") && !narrow.header().contains("REQUEST"));
        // Several brokers: the source column after the time since the first row.
        let mut labelled = cells.clone();
        labelled[0][4] = "east".into();
        let sources = Layout::new(Some(&labelled), false, true, None);
        assert!(
            sources.header().contains("  +S  SOURCE  SERVICE  "),
            "{}",
            sources.header()
        );
        assert!(
            sources
                .line(&labelled[0])
                .contains("  +0.000  east    nova-compute  "),
            "{}",
            sources.line(&labelled[0])
        );
        let live = Layout::new(None, false, false, None);
        assert!(
            live.header().starts_with("  #    TIME   "),
            "{}",
            live.header()
        );
    }
}
