// A tiny items.json document for the unit tests: 4 x 3 grid, 5 items, two holes.
export function sampleDoc() {
  return {
    format: 'cviz-items/1',
    collection: 'unit',
    count: 5,
    grid: { cols: 4, rows: 3, cell_width: 10, cell_height: 10, width: 40, height: 30 },
    dzi: 'map.dzi',
    columns: ['title', 'url', 'date', 'artist', 'department'],
    date_column: 'date',
    category_columns: ['department'],
    fields: {
      id: ['a.jpg', 'b.jpg', 'c.jpg', 'd.jpg', 'sub dir/é #5.jpg'],
      // cells: 0 (0,0), 1 (1,0), 5 (1,1), 8 (0,2), 11 (3,2)
      cell: [0, 1, 5, 8, 11],
      image: ['../images/a.jpg', '../images/b.jpg', '../images/c.jpg', '../images/d.jpg', '../images/e.jpg'],
      year: [1850, null, 1901, 1700, 1875],
      title: ['Landscape with Cows', '<img src=x onerror=alert(1)>', 'Portrait of Dürer', '', 'Landscape, evening'],
      url: ['https://example.org/1', 'javascript:alert(1)', '', 'http://example.org/4', 'ftp://x'],
      date: ['1850', '', 'ca. 1901', '1700', '1875'],
      artist: ['A', 'B', 'Dürer', null, 'A'],
      department: ['Paintings', 'Prints|Paintings', 'Prints', 'Asian Art', ' Paintings | Asian Art '],
    },
  };
}
