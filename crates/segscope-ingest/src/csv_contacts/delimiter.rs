//! Guessing a CSV file's delimiter (field case F19: European Excel writes
//! `;`). Each candidate is tried with the real CSV parser, so quoted fields
//! that contain other candidates (`"Lee; Jr"`) do not mislead it.

/// The candidates, in order of preference when several fit equally.
pub const DELIMITER_CANDIDATES: [u8; 4] = [b',', b';', b'\t', b'|'];

/// How many records (header included) are looked at.
pub const DELIMITER_SAMPLE_RECORDS: usize = 50;

/// How well a candidate fits the first records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Fit {
    /// Sample records with as many fields as the header.
    consistent_records: usize,
    header_fields: usize,
}

fn fit(text: &str, delimiter: u8) -> Option<Fit> {
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(text.as_bytes());
    let mut records = reader.records();
    let header_fields = records.next()?.ok()?.len();
    if header_fields < 2 {
        return None;
    }
    let mut consistent_records = 1;
    for record in records.take(DELIMITER_SAMPLE_RECORDS - 1) {
        match record {
            Ok(record) if record.len() == header_fields => consistent_records += 1,
            Ok(_) => {}
            Err(_) => break,
        }
    }
    Some(Fit { consistent_records, header_fields })
}

/// The delimiter giving the most records with the header's field count (more
/// than one field), then the most fields; `,` when none splits the header.
pub fn detect_delimiter(text: &str) -> u8 {
    let mut best: Option<(Fit, u8)> = None;
    for candidate in DELIMITER_CANDIDATES {
        if let Some(candidate_fit) = fit(text, candidate)
            && best.is_none_or(|(best_fit, _)| candidate_fit > best_fit)
        {
            best = Some((candidate_fit, candidate));
        }
    }
    best.map_or(b',', |(_, delimiter)| delimiter)
}

/// Shows a delimiter in messages: `,`, `;`, `tab`, `|`.
pub fn delimiter_name(delimiter: u8) -> String {
    match delimiter {
        b'\t' => "tab".to_owned(),
        other => (other as char).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_consistent_delimiter() {
        assert_eq!(
            detect_delimiter("email;first_name;last_name\r\na@example.com;Ana;Silva\r\nb@example.com;Bo;\"Lee; Jr\"\r\n"),
            b';'
        );
        assert_eq!(detect_delimiter("email,name\na@x.com,\"Silva; Ana\"\n"), b',');
        assert_eq!(detect_delimiter("email\tname\na@x.com\tSmith, John\n"), b'\t');
        assert_eq!(detect_delimiter("email|name\na@x.com|Ann\n"), b'|');
        assert_eq!(detect_delimiter("email\na@x.com\n"), b',');
        // `;` splits the header in two but the rows inconsistently; `,` fits every row.
        assert_eq!(detect_delimiter("email,note;x\na@x.com,b\nc@x.com,d;e;f\n"), b',');
    }
}
