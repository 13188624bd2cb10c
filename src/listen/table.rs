//! Plain-text tables fitted to a width, and durations written as people read them, for
//! `--top` and `--timeline`. Pure.

use std::io::{self, Write};
use std::time::Duration;

/// A table of text cells: the first column left-aligned, the others right-aligned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The column titles.
    pub header: Vec<String>,
    /// The cells of each line.
    pub rows: Vec<Vec<String>>,
    /// How many columns, from the first, hold text (left-aligned); the others hold figures
    /// (right-aligned), but for a last column without a title, which holds a note.
    pub text_columns: usize,
}

impl Table {
    /// Whether `column` is aligned to the left.
    pub fn is_left_aligned(&self, column: usize) -> bool {
        column < self.text_columns || self.header.get(column).is_some_and(String::is_empty)
    }

    /// The width of each column: its widest cell.
    pub fn widths(&self) -> Vec<usize> {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        widths
    }
}

/// Writes `table` with its columns aligned, fitted to `width` when given.
pub fn write_table(out: &mut impl Write, table: &Table, width: Option<usize>) -> io::Result<()> {
    let natural = table.widths();
    let line_width =
        |spacing: usize| natural.iter().sum::<usize>() + spacing * natural.len().saturating_sub(1);
    // Two blanks between columns; one when that makes it fit; names shortened when even one
    // does not.
    let (widths, gap) = match width {
        Some(width) if line_width(2) > width && line_width(1) <= width => (natural, " "),
        Some(width) if line_width(2) > width => (fit(table, width, 1), " "),
        _ => (natural, "  "),
    };
    for cells in std::iter::once(&table.header).chain(&table.rows) {
        let mut line = String::new();
        for (column, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if column > 0 {
                line.push_str(gap);
            }
            let cell = shorten(cell, *width);
            if table.is_left_aligned(column) {
                line.push_str(&format!("{cell:<width$}"));
            } else {
                line.push_str(&format!("{cell:>width$}"));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// How many columns of room to spare each figure column may take.
const FIGURE_AIR: usize = 3;

/// The width of each column of `cells` in `width` columns with `spacing` between them:
/// figures and notes as wide as their widest cell (with a little air when there is room);
/// text columns as wide as theirs when all fit, else sharing what is left in proportion.
pub fn fit(cells: &Table, width: usize, spacing: usize) -> Vec<usize> {
    let natural = cells.widths();
    let text: Vec<usize> = (0..natural.len())
        .filter(|c| *c < cells.text_columns)
        .collect();
    let fixed: usize = (0..natural.len())
        .filter(|c| !text.contains(c))
        .map(|c| natural[c])
        .sum();
    let room = width
        .saturating_sub(fixed)
        .saturating_sub(spacing * natural.len().saturating_sub(1));
    let wanted: usize = text.iter().map(|c| natural[*c]).sum();
    let mut widths = natural.clone();
    if wanted <= room {
        // Room to spare goes to the figures (a little air each), not between a name and its
        // figures; the rest of the line stays blank.
        let figures: Vec<usize> = (0..natural.len()).filter(|c| !text.contains(c)).collect();
        let air = ((room - wanted) / figures.len().max(1)).min(FIGURE_AIR);
        for c in figures {
            widths[c] += air;
        }
    } else {
        for c in &text {
            widths[*c] = (room * natural[*c] / wanted.max(1)).max(4);
        }
    }
    widths
}

/// `text` in at most `width` columns: shortened in the middle with `…` when longer.
pub fn shorten(text: &str, width: usize) -> String {
    let length = text.chars().count();
    if length <= width {
        return text.to_owned();
    }
    if width <= 1 {
        return "…".repeat(width);
    }
    let keep = width - 1;
    let head = keep / 2;
    let tail = keep - head;
    let start: String = text.chars().take(head).collect();
    let end: String = text.chars().skip(length - tail).collect();
    format!("{start}…{end}")
}

/// `text` in at most `width` columns, its end kept: whole words after a dot where they fit
/// and fill most of it (`…create.start`), else the last characters, after a `…`.
pub fn keep_end(text: &str, width: usize) -> String {
    let length = text.chars().count();
    if length <= width {
        return text.to_owned();
    }
    if width == 0 {
        return String::new();
    }
    let after_dots = text.match_indices('.').map(|(at, _)| &text[at + 1..]);
    let words = after_dots
        .into_iter()
        .find(|rest| rest.chars().count() < width)
        .filter(|rest| 3 * rest.chars().count() >= 2 * (width - 1));
    if let Some(words) = words {
        return format!("…{words}");
    }
    let tail: String = text.chars().skip(length - (width - 1)).collect();
    format!("…{tail}")
}

/// `text` in at most `width` columns, its start kept, then a `…`.
pub fn keep_start(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let head: String = text.chars().take(width.saturating_sub(1)).collect();
    if width == 0 {
        head
    } else {
        format!("{head}…")
    }
}

/// `01:02:03` for a time running.
pub fn clock(d: Duration) -> String {
    let s = d.as_secs();
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// A duration in seconds as people read it: `0.25s`, `12.3s`, `4m05s`, `2h03m`.
pub fn span(seconds: f64) -> String {
    if seconds < 10.0 {
        format!("{seconds:.2}s")
    } else if seconds < 60.0 {
        format!("{seconds:.1}s")
    } else if seconds < 3600.0 {
        let s = seconds as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        let s = seconds as u64;
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    }
}

/// Seconds since something was last seen, as a short text.
pub fn ago(seconds: f64) -> String {
    if seconds < 10.0 {
        format!("{seconds:.1}s")
    } else {
        span(seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_shortened_keeping_what_matters() {
        assert_eq!(shorten("compute.instance", 9), "comp…ance");
        assert_eq!(
            keep_end("compute.instance.create.start", 16),
            "…create.start"
        );
        assert_eq!(
            keep_end("compute.instance.create.start", 29),
            "compute.instance.create.start"
        );
        assert_eq!(
            keep_end("scheduler.select_destinations.start", 12),
            "…tions.start"
        );
        assert_eq!(keep_end("nova-conductor", 8), "…nductor");
        assert_eq!(keep_start("building [networking]", 10), "building …");
        assert_eq!(keep_start("active", 10), "active");
        for width in 0..12 {
            assert!(keep_end("a.bb.ccc.dddd", width).chars().count() <= width);
            assert!(keep_start("a.bb.ccc.dddd", width).chars().count() <= width);
        }
    }
}
